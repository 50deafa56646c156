"""SQL functions the migrations install on PostgreSQL (and Citus distributes).

`jeton_draw_lots` is the spend order of `core/lots.py` in SQL: which of a wallet's lots pay an
amount, and how much each gives. It is the first piece of a spend done as one SQL call on the
worker that holds the community (docs/decisions/0077); `tests/store/test_sql_functions.py` holds it
to `core.lots.plan_draw`, draw for draw. `core/lots.py` is the specification: a change to the
spend order changes both, and that test says when they part.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

# The order, key by key, as `lots.spend_order_key`: scoped lots first, higher priority, soonest
# expiry (a lot that never expires last), free before paid, then the lot id compared as Python
# compares str (code point by code point: COLLATE "C"). Expired lots, the credit line and
# lots out of scope are never drawn. A lot's take is what is left of the amount after the lots
# before it, at most what it holds; the walk stops once the amount is covered. PL/pgSQL, not a
# SQL function: Citus cannot plan a SQL function's parameterized query over a distributed table
# on the coordinator (met on a cluster: "parameterized queries for SQL functions referencing
# distributed tables are not supported").
DRAW_LOTS = r"""
CREATE OR REPLACE FUNCTION jeton_draw_lots(p_community_id text, p_account_id text,
                                           p_amount bigint, p_service text, p_now_us bigint)
RETURNS TABLE (lot_id text, take bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT o.lot_id::text, least(o.remaining, p_amount - (o.running - o.remaining))::bigint
  FROM (
    SELECT l.lot_id, l.remaining,
           sum(l.remaining) OVER w AS running,
           row_number() OVER w AS place
    FROM lots l
    WHERE l.community_id = p_community_id
      AND l.account_id = p_account_id
      AND l.remaining > 0
      AND l.source <> 'overdraft'
      AND (l.expires_at_us IS NULL OR l.expires_at_us > p_now_us)
      AND (l.scope IS NULL
           OR (p_service IS NOT NULL
               AND CASE WHEN right(l.scope, 2) = '.*'
                        THEN starts_with(p_service, left(l.scope, -1))
                        ELSE l.scope = p_service END))
    WINDOW w AS (ORDER BY l.scope IS NULL, l.priority DESC, l.expires_at_us ASC NULLS LAST,
                 l.paid, l.lot_id COLLATE "C" ROWS UNBOUNDED PRECEDING)
  ) o
  WHERE o.running - o.remaining < p_amount
  ORDER BY o.place;
END
$$
"""

# `core.transfers.transfer_hash` in SQL, so a transfer written by a SQL function carries the
# hash Python would give it: the header fields by name (`name=len:value;`, `~` for NULL), then
# the postings and the lot moves sorted as Python sorts them (`p`/`l`, the id and the amount,
# each length-prefixed). Lengths are in characters, as Python's `len`; ids compare code point by
# code point (COLLATE "C"). `tests/store/test_sql_functions.py` holds the two to the same digests.
TRANSFER_HASH = r"""
CREATE OR REPLACE FUNCTION jeton_transfer_hash(
    p_community_id text, p_transfer_id text, p_kind text, p_asset text, p_member_id text,
    p_service text, p_reverses_id text, p_hold_id text, p_actor text, p_reason_code text,
    p_memo text, p_metadata_json text, p_idempotency_key text, p_effective_at_us bigint,
    p_accounts text[], p_amounts bigint[], p_lots text[], p_lot_amounts bigint[])
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(
    (SELECT string_agg(h.k || '=' || coalesce(length(h.v) || ':' || h.v, '1:~') || ';', ''
                       ORDER BY h.k COLLATE "C")
     FROM (VALUES ('actor', p_actor), ('asset', p_asset), ('community_id', p_community_id),
                  ('effective_at_us', p_effective_at_us::text), ('hold_id', p_hold_id),
                  ('idempotency_key', p_idempotency_key), ('kind', p_kind),
                  ('member_id', p_member_id), ('memo', p_memo),
                  ('metadata_json', p_metadata_json), ('reason_code', p_reason_code),
                  ('reverses_id', p_reverses_id), ('service', p_service),
                  ('transfer_id', p_transfer_id)) AS h(k, v))
    || coalesce((SELECT string_agg('p' || length(a) || ':' || a || ';'
                                   || length(n::text) || ':' || n::text || ';', ''
                                   ORDER BY a COLLATE "C", n)
                 FROM unnest(p_accounts, p_amounts) AS x(a, n)), '')
    || coalesce((SELECT string_agg('l' || length(a) || ':' || a || ';'
                                   || length(n::text) || ':' || n::text || ';', ''
                                   ORDER BY a COLLATE "C", n)
                 FROM unnest(p_lots, p_lot_amounts) AS x(a, n)), ''),
    'UTF8')), 'hex')
$$
"""

FUNCTIONS = (DRAW_LOTS, TRANSFER_HASH)
DROP_FUNCTIONS = (
    "DROP FUNCTION IF EXISTS jeton_draw_lots(text, text, bigint, text, bigint)",
    "DROP FUNCTION IF EXISTS jeton_transfer_hash(text, text, text, text, text, text, text, "
    "text, text, text, text, text, text, bigint, text[], bigint[], text[], bigint[])",
)


def install(conn: Connection) -> None:
    """Create (or replace) every function, on PostgreSQL; SQLite has none."""
    if conn.dialect.name != "postgresql":
        return
    for ddl in FUNCTIONS:
        conn.exec_driver_sql(ddl)


def uninstall(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for ddl in DROP_FUNCTIONS:
        conn.exec_driver_sql(ddl)
