"""SQL functions the migrations install on PostgreSQL (and Citus distributes).

`jeton_draw_lots` is the spend order of `core/lots.py` in SQL: which of a wallet's lots pay an
amount, and how much each gives. It is the first piece of a spend done as one SQL call on the
worker that holds the community (docs/decisions/0077); `tests/store/test_sql_functions.py` holds it
to `core.lots.plan_draw`, draw for draw. `core/lots.py` is the specification: a change to the
spend order changes both, and that test says when they part.

`jeton_spend` is a whole plain spend, built on those two (migration 0009, decision 0078):
`services/ledger/sqlspend.py` calls it, and `tests/ledger/test_sql_spend.py` holds its rows
and answers to the Python write's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

# The functions name their tables, and the functions they call, with the schema they are made
# in: on Citus a call runs on the community's worker, where the caller's search_path does not
# follow it (a function-level `SET search_path` would, but Citus's `undistribute_table` then
# fails on the function). `install` writes the schema in for this marker.
SCHEMA = "@schema."

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
    FROM @schema.lots l
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
# hash Python would give it: the header fields in the order of their names (`name=len:value;`,
# `~` for NULL), then the postings and the lot moves sorted as Python sorts them (`p`/`l`, the
# id and the amount, each length-prefixed). Lengths are in characters, as Python's `len`; ids
# compare code point by code point (COLLATE "C"). `tests/store/test_sql_functions.py` holds the
# two to the same digests. `jeton_spend` writes the same text inline, in one `format()`
# (`hash_format`, `pairs`): a call of this function costs a spend about 25 µs of the server's
# CPU (decision 0095), a chain of `||` 6 % of its instructions (decision 0122).
HASH_FIELDS = ("actor", "asset", "community_id", "effective_at_us", "hold_id",
               "idempotency_key", "kind", "member_id", "memo", "metadata_json", "reason_code",
               "reverses_id", "service", "transfer_id")


def hash_head(values: dict[str, str]) -> str:
    """The header part of the hash text as a SQL expression: `values` gives each field of
    `HASH_FIELDS` as a SQL expression of type text (NULL for a missing value)."""
    return "\n    || ".join(
        f"'{name}=' || coalesce(length({values[name]}) || ':' || {values[name]}, '1:~') || ';'"
        for name in HASH_FIELDS)


def pair(tag: str, id_: str, amount: str) -> str:
    """One posting's (`p`) or lot move's (`l`) part of the hash text as a SQL expression:
    `id_` a text expression, `amount` a bigint one."""
    return (f"'{tag}' || length({id_}) || ':' || {id_} || ';'"
            f" || length(({amount})::text) || ':' || ({amount})::text || ';'")


def hash_format(values: dict[str, str], nullable: frozenset[str],
                postings: Sequence[tuple[str, str]], tail: str) -> str:
    """The whole hash text (`hash_head`, then a `pair` of each of `postings` tagged `p`, then
    `tail`) as one `format()` call, which writes the text once where a chain of `||` copies it
    at every step (decision 0122). `values` as for `hash_head`; a constant (a quoted literal
    or `NULL::text`) is written into the format itself. A field not in `nullable` names a
    NOT NULL column of the row the text is the hash of, so its value is never NULL there."""
    pieces: list[str] = []
    args: list[str] = []
    for name in HASH_FIELDS:
        expr = values[name]
        if expr == "NULL::text":
            pieces.append(f"{name}=1:~;")
        elif expr.startswith("'"):
            text = expr.strip("'")
            pieces.append(f"{name}={len(text)}:{text};")
        elif name in nullable:
            pieces.append(f"{name}=%s;")
            args.append(f"coalesce(length({expr}) || ':' || {expr}, '1:~')")
        else:
            pieces.append(f"{name}=%s:%s;")
            args += [f"length({expr})", expr]
    for id_, amount in postings:
        piece, pair_args = _pair_parts("p", id_, amount)
        pieces.append(piece)
        args += pair_args
    pieces.append("%s")
    args.append(tail)
    return _format(pieces, args)


def format_pair(tag: str, id_: str, amount: str) -> str:
    """`pair` as one `format()` call (`hash_format`'s form of it)."""
    piece, args = _pair_parts(tag, id_, amount)
    return _format([piece], args)


def _pair_parts(tag: str, id_: str, amount: str) -> tuple[str, list[str]]:
    return (f"{tag}%s:%s;%s:%s;",
            [f"length({id_})", id_, f"length(({amount})::text)", f"({amount})::text"])


def _format(pieces: list[str], args: list[str]) -> str:
    return f"format('{''.join(pieces)}',\n      " + ",\n      ".join(args) + ")"


def pairs(tag: str, ids: str, amounts: str) -> str:
    """The postings' or lot moves' part of the hash text as a SQL expression, from two arrays
    of the same length, sorted as Python sorts them."""
    return (f"coalesce((SELECT string_agg({pair(tag, 'a', 'n')}, ''\n"
            f"                                   ORDER BY a COLLATE \"C\", n)\n"
            f"                 FROM unnest({ids}, {amounts}) AS x(a, n)), '')")


TRANSFER_HASH = r"""
CREATE OR REPLACE FUNCTION jeton_transfer_hash(
    p_community_id text, p_transfer_id text, p_kind text, p_asset text, p_member_id text,
    p_service text, p_reverses_id text, p_hold_id text, p_actor text, p_reason_code text,
    p_memo text, p_metadata_json text, p_idempotency_key text, p_effective_at_us bigint,
    p_accounts text[], p_amounts bigint[], p_lots text[], p_lot_amounts bigint[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN encode(sha256(convert_to(
    """ + hash_head({name: ("p_effective_at_us::text" if name == "effective_at_us"
                            else f"p_{name}") for name in HASH_FIELDS}) + """
    || """ + pairs("p", "p_accounts", "p_amounts") + """
    || """ + pairs("l", "p_lots", "p_lot_amounts") + """,
    'UTF8')), 'hex');
END
$$
"""

FUNCTIONS = (DRAW_LOTS, TRANSFER_HASH)  # migration 0008
DROP_FUNCTIONS = (
    "DROP FUNCTION IF EXISTS jeton_draw_lots(text, text, bigint, text, bigint)",
    "DROP FUNCTION IF EXISTS jeton_transfer_hash(text, text, text, text, text, text, text, "
    "text, text, text, text, text, text, bigint, text[], bigint[], text[], bigint[])",
)




# The header of a spend's transfer, for the hash: its fixed fields are constants.
_SPEND_HASH_FIELDS = {
    "actor": "p_actor", "asset": "p_asset", "community_id": "p_community_id",
    "effective_at_us": "p_now_us::text", "hold_id": "NULL::text",
    "idempotency_key": "p_idempotency_key", "kind": "'spend'", "member_id": "p_member_id",
    "memo": "p_memo", "metadata_json": "p_metadata_json", "reason_code": "p_reason_code",
    "reverses_id": "NULL::text", "service": "p_service", "transfer_id": "p_transfer_id"}

# The fields of a spend's header whose columns may hold NULL: the hash writes `~` for them.
_SPEND_NULLABLE = frozenset({"idempotency_key", "member_id", "service"})

# A plain spend (one wallet, paid to `revenue`, no splits) as one call: what `LedgerWrites.spend`
# writes through `WorkSet.pay` on the Python path, row for row, so that on Citus the whole write
# is one command to the community's worker (docs/decisions/0077, 0078). The answer is JSON:
# `{"outcome": ...}` with
# - `ok` and `result`, the `TransferResult` (also stored with the idempotency key);
# - `replay` and `result`, the stored answer of the key;
# - `idempotency_conflict`: the key was used for another request;
# - `insufficient_credits` with `balance` and `required`, as `WorkSet.plan_debit` declines;
# - `fallback` with a `reason`, having written nothing: the Python path must do this spend,
#   because something only it does might act (a ledger hook: a freeze, a velocity limit or a
#   key budget, auto-recharge under its threshold, a `charge.succeeded` subscription, a
#   balance reaching zero or crossing an alert level, a suspended credit line) or because
#   the wallet or the revenue account is missing, or holds past their expiry could be
#   released to pay (`_plan_or_release`).
# Only the wallet is locked: `revenue` is untracked (nothing on its row changes; a tracked one
# falls back), so spends of one community never queue on it. The key is read after the
# wallet's lock, so a racing spend of the same member and key finds the first's answer; a
# race across members meets the key's unique index, which the caller retries as `write_once`
# does. The ids (the transfer's and the overdraft lot's, if one is opened) come from Jeton.
SPEND = r"""
CREATE OR REPLACE FUNCTION jeton_spend(
    p_community_id text, p_member_id text, p_asset text, p_amount bigint, p_service text,
    p_actor text, p_reason_code text, p_memo text, p_metadata_json text,
    p_idempotency_key text, p_request_hash text, p_transfer_id text,
    p_overdraft_lot_id text, p_now_us bigint)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  v_wallet text := 'wallet:' || p_member_id || ':' || p_asset;
  v_revenue text := 'revenue:' || p_asset;
  v_found boolean;
  v_posted bigint;
  v_pending bigint;
  v_version bigint;
  v_floor bigint;
  v_after bigint;
  v_operation text;
  v_hash text;
  v_response text;
  v_guard text;
  v_lots text[];
  v_takes bigint[];
  v_covered bigint;
  v_short bigint;
  v_owed_id text;
  v_owed bigint := 0;
  v_owed_new boolean := false;
  v_move_amounts bigint[] := '{}';
  v_moves text;
  v_answer json;
  v_lot_moves json;
  v_at timestamp;
  i integer;
BEGIN
  SELECT a.posted, a.pending, a.version, a.floor INTO v_posted, v_pending, v_version, v_floor
  FROM @schema.accounts a
  WHERE a.community_id = p_community_id AND a.account_id = v_wallet AND a.tracked
  FOR UPDATE;
  v_found := FOUND;

  SELECT k.operation, k.request_hash, k.response_json INTO v_operation, v_hash, v_response
  FROM @schema.idempotency_keys k
  WHERE k.community_id = p_community_id AND k.key = p_idempotency_key;
  IF FOUND THEN
    IF v_operation <> 'spend' OR v_hash <> p_request_hash THEN
      RETURN json_build_object('outcome', 'idempotency_conflict');
    END IF;
    RETURN json_build_object('outcome', 'replay', 'result', v_response::json);
  END IF;
  IF NOT v_found THEN
    RETURN json_build_object('outcome', 'fallback', 'reason', 'no_wallet');
  END IF;

  -- Revenue: untracked, so read and never locked (a tracked one is left to Python).
  IF coalesce((SELECT a.tracked FROM @schema.accounts a
               WHERE a.community_id = p_community_id AND a.account_id = v_revenue
                 AND a.asset = p_asset), true) THEN
    RETURN json_build_object('outcome', 'fallback', 'reason', 'revenue');
  END IF;

  -- The lots that pay, in spend order (`core/lots.py`), then the credit line for the rest. A
  -- decline comes first, as on the Python path, where the hooks run after the plan.
  SELECT coalesce(array_agg(d.lot_id ORDER BY d.n), '{}'),
         coalesce(array_agg(d.take ORDER BY d.n), '{}'), coalesce(sum(d.take), 0)
  INTO v_lots, v_takes, v_covered
  FROM @schema.jeton_draw_lots(p_community_id, v_wallet, p_amount, p_service, p_now_us)
       WITH ORDINALITY AS d(lot_id, take, n);
  v_short := p_amount - v_covered;
  IF v_short > 0 THEN
    SELECT l.lot_id, l.remaining INTO v_owed_id, v_owed FROM @schema.lots l
    WHERE l.community_id = p_community_id AND l.account_id = v_wallet
      AND l.merge_key = 'overdraft||0|';
    IF NOT FOUND THEN
      v_owed_id := NULL;
      v_owed := 0;
    END IF;
    -- `WorkSet.plan_debit`: the lots drawn are every credit there is, so `available` is what
    -- they cover plus what the credit line owes already.
    IF coalesce(v_floor, 0) >= 0 OR v_covered + v_owed - coalesce(v_floor, 0) < p_amount THEN
      IF EXISTS (SELECT 1 FROM @schema.holds h
                 WHERE h.community_id = p_community_id AND h.account_id = v_wallet
                   AND h.status = 'active' AND h.expires_at_us <= p_now_us) THEN
        RETURN json_build_object('outcome', 'fallback', 'reason', 'expired_holds');
      END IF;
      RETURN json_build_object('outcome', 'insufficient_credits',
                               'balance', v_covered + v_owed, 'required', p_amount);
    END IF;
    IF EXISTS (SELECT 1 FROM @schema.bills b
               WHERE b.community_id = p_community_id AND b.member_id = p_member_id
                 AND b.asset = p_asset AND b.status = 'open' AND b.due_at_us <= p_now_us) THEN
      RETURN json_build_object('outcome', 'fallback', 'reason', 'credit_line_suspended');
    END IF;
    IF v_owed_id IS NULL THEN
      v_owed_id := p_overdraft_lot_id;
      v_owed_new := true;
    END IF;
  END IF;
  v_after := v_posted - p_amount;

  -- What the hooks would read, in one statement: the first reason found, or NULL. Balances
  -- are those after the spend: available is posted - pending - floor for the outbox's events,
  -- posted - pending - credits expired but not yet swept for auto-recharge.
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM @schema.wallet_freezes f
                 WHERE f.community_id = p_community_id AND f.member_id = p_member_id)
      THEN 'wallet_frozen'
    WHEN EXISTS (SELECT 1 FROM @schema.velocity_limits v
                 WHERE v.community_id = p_community_id AND v.asset = p_asset)
      THEN 'velocity_limits'
    WHEN starts_with(p_actor, 'api_key:')
         AND EXISTS (SELECT 1 FROM @schema.key_budgets b
                     WHERE b.community_id = p_community_id AND b.asset = p_asset)
      THEN 'key_budgets'
    WHEN EXISTS (SELECT 1 FROM @schema.webhook_endpoints e
                 WHERE e.community_id = p_community_id AND e.enabled
                   AND (e.event_types_json IS NULL
                        OR e.event_types_json::jsonb ?| ARRAY['*', 'charge.succeeded']))
      THEN 'charge_succeeded'
    WHEN v_floor IS NOT NULL AND v_after - v_pending - v_floor <= 0
         AND v_posted - v_pending - v_floor > 0
      THEN 'balance_depleted'
    WHEN v_floor IS NOT NULL
         AND (EXISTS (SELECT 1 FROM @schema.member_alerts m
                      WHERE m.community_id = p_community_id AND m.member_id = p_member_id
                        AND m.asset = p_asset
                        AND m.low_armed = (v_after - v_pending - v_floor < m.low_threshold))
              OR EXISTS (SELECT 1 FROM @schema.balance_alert_levels l
                         WHERE l.community_id = p_community_id
                           AND l.member_id = p_member_id AND l.asset = p_asset
                           AND l.armed = (v_after - v_pending - v_floor < l.threshold)))
      THEN 'balance_alert'
    WHEN EXISTS (SELECT 1 FROM @schema.auto_recharge r
                 WHERE r.community_id = p_community_id AND r.member_id = p_member_id
                   AND r.asset = p_asset AND r.enabled AND r.status <> 'failed'
                   AND v_after - v_pending
                       - (SELECT coalesce(sum(l.remaining), 0) FROM @schema.lots l
                          WHERE l.community_id = p_community_id AND l.account_id = v_wallet
                            AND l.remaining > 0 AND l.expires_at_us <= p_now_us)
                       < r.threshold)
      THEN 'auto_recharge'
    END INTO v_guard;
  IF v_guard IS NOT NULL THEN
    RETURN json_build_object('outcome', 'fallback', 'reason', v_guard);
  END IF;

  -- The rows `WorkSet.pay` makes: the moves (one per lot, the credit line's last), the
  -- transfer with its hash, the lots, the wallet, the postings, the lot moves and the key.
  FOR i IN 1 .. coalesce(array_length(v_takes, 1), 0) LOOP
    v_move_amounts := v_move_amounts || (-v_takes[i]);
  END LOOP;
  IF v_short > 0 THEN
    v_lots := v_lots || v_owed_id;
    v_move_amounts := v_move_amounts || (-v_short);
  END IF;
  -- The hash is `jeton_transfer_hash`'s text written out: the postings are revenue's then the
  -- wallet's (sorted by account: 'r' < 'w'), the moves sorted when there are several.
  IF cardinality(v_lots) = 1 THEN
    v_moves := """ + format_pair("l", "v_lots[1]", "v_move_amounts[1]") + r""";
  ELSE
    v_moves := """ + pairs("l", "v_lots", "v_move_amounts") + r""";
  END IF;
  INSERT INTO @schema.transfers (community_id, transfer_id, kind, asset, member_id, service,
                                 reverses_id, hold_id, actor, reason_code, memo, metadata_json,
                                 idempotency_key, effective_at_us, recorded_at_us, hash)
  VALUES (p_community_id, p_transfer_id, 'spend', p_asset, p_member_id, p_service, NULL, NULL,
          p_actor, p_reason_code, p_memo, p_metadata_json, p_idempotency_key, p_now_us,
          CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT),
          encode(sha256(convert_to(
    """ + hash_format(_SPEND_HASH_FIELDS, _SPEND_NULLABLE, [  # revenue's, then the wallet's
        ("v_revenue", "p_amount"), ("v_wallet", "-p_amount")], "v_moves") + r""",
    'UTF8')), 'hex'));
  -- One lot (nearly every spend) by its key: PostgreSQL may plan `lot_id = ANY (v_lots)` anew
  -- on every call (its cached plan guesses ten lots, a fresh one knows the array): when it did,
  -- planning was about a twelfth of the call's CPU on the server (decision 0100).
  IF cardinality(v_lots) = 1 THEN
    UPDATE @schema.lots l SET remaining = l.remaining + v_move_amounts[1]
    WHERE l.community_id = p_community_id AND l.lot_id = v_lots[1];
  ELSE
    UPDATE @schema.lots l
    SET remaining = l.remaining + v_move_amounts[array_position(v_lots, l.lot_id::text)]
    WHERE l.community_id = p_community_id AND l.lot_id = ANY (v_lots);
  END IF;
  IF v_owed_new THEN
    INSERT INTO @schema.lots (community_id, lot_id, account_id, source, paid, cost_minor,
                              cost_currency, amount, remaining, expires_at_us, priority, scope,
                              merge_key, origin_transfer_id, created_at_us)
    VALUES (p_community_id, v_owed_id, v_wallet, 'overdraft', false, 0, NULL, 0, -v_short,
            NULL, 0, NULL, 'overdraft||0|', p_transfer_id, p_now_us);
  END IF;
  UPDATE @schema.accounts a SET posted = v_after, version = v_version + 1
  WHERE a.community_id = p_community_id AND a.account_id = v_wallet;
  INSERT INTO @schema.postings (community_id, transfer_id, account_id, amount,
                                balance_after, account_version)
  VALUES (p_community_id, p_transfer_id, v_wallet, -p_amount, v_after, v_version + 1),
         (p_community_id, p_transfer_id, v_revenue, p_amount, NULL, NULL);
  FOR i IN 1 .. array_length(v_lots, 1) LOOP
    INSERT INTO @schema.posting_lots (community_id, transfer_id, lot_id, account_id, amount)
    VALUES (p_community_id, p_transfer_id, v_lots[i], v_wallet, v_move_amounts[i]);
  END LOOP;
  -- The answer's lot moves: one lot (nearly every spend) without a query.
  IF cardinality(v_lots) = 1 THEN
    v_lot_moves := json_build_array(json_build_object(
      'lot_id', v_lots[1], 'account_id', v_wallet, 'amount', v_move_amounts[1]));
  ELSE
    v_lot_moves := (SELECT json_agg(json_build_object('lot_id', x.lot_id,
                                                      'account_id', v_wallet,
                                                      'amount', x.amount) ORDER BY x.n)
                    FROM unnest(v_lots, v_move_amounts) WITH ORDINALITY AS x(lot_id, amount, n));
  END IF;
  -- The instant as the Python answer writes it (whole seconds without a fraction).
  v_at := timestamp 'epoch' + (p_now_us / 1000000) * interval '1 second'
          + mod(p_now_us, 1000000) * interval '1 microsecond';
  v_answer := json_build_object(
    'id', p_transfer_id, 'kind', 'spend', 'asset', p_asset, 'amount', p_amount,
    'member_id', p_member_id, 'service', p_service, 'reverses_id', NULL::text,
    'hold_id', NULL::text,
    'postings', json_build_array(
      json_build_object('account_id', v_wallet, 'amount', -p_amount, 'balance_after', v_after),
      json_build_object('account_id', v_revenue, 'amount', p_amount,
                        'balance_after', NULL::bigint)),
    'lots', v_lot_moves,
    'actor', p_actor, 'reason_code', p_reason_code, 'memo', p_memo,
    'metadata', p_metadata_json::json,
    'effective_at', to_char(v_at, 'YYYY-MM-DD"T"HH24:MI:SS')
                    || CASE WHEN mod(p_now_us, 1000000) = 0 THEN '' ELSE to_char(v_at, '.US')
                       END || 'Z',
    'balance_after', v_after, 'replayed', false);
  INSERT INTO @schema.idempotency_keys (community_id, key, operation, request_hash,
                                        response_json, created_at_us)
  VALUES (p_community_id, p_idempotency_key, 'spend', p_request_hash, v_answer::text, p_now_us);
  RETURN json_build_object('outcome', 'ok', 'result', v_answer);
END
$$
"""

# Migration 0009: the spend, the draw again (now naming its schema: the spend calls it on the
# worker) and the hash again (PL/pgSQL: a SQL function's body is planned on every call, the
# better part of a millisecond inside every spend).
SPEND_FUNCTIONS = (DRAW_LOTS, TRANSFER_HASH, SPEND)
DROP_SPEND_FUNCTIONS = (
    "DROP FUNCTION IF EXISTS jeton_spend(text, text, text, bigint, text, text, text, text, "
    "text, text, text, text, text, bigint)",
)


def install(conn: Connection, ddls: tuple[str, ...] = FUNCTIONS) -> None:
    """Create (or replace) the functions of `ddls` (a migration's), on PostgreSQL; SQLite has
    none. `@schema.` in their bodies becomes the schema they are made in (see `SCHEMA`)."""
    if conn.dialect.name != "postgresql":
        return
    schema = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    for ddl in ddls:  # sent as written: a `%s` of a body's `format()` is no parameter
        conn.exec_driver_sql(ddl.replace(SCHEMA, f"{schema}."),
                             execution_options={"no_parameters": True})


def uninstall(conn: Connection, drops: tuple[str, ...] = DROP_FUNCTIONS) -> None:
    if conn.dialect.name != "postgresql":
        return
    for ddl in drops:
        conn.exec_driver_sql(ddl)
