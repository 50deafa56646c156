"""Post-pay bills: a member on a credit line uses services now and pays one bill a cycle.

A member's wallet may go below zero down to its floor (`set_credit_line`, decision 0008): what
they owe sits in the wallet's overdraft lot. With billing set for the asset
(`set_billing_settings`), the `bills.issue` job bills what a member owes:

- at the end of each cycle (UTC calendar week or month) that had unbilled charges, or at once
  when what they owe and no bill asks yet reaches `bill_at_percent` of their credit line;
- one bill takes in every charge of the wallet since the previous bill's last transfer, grouped
  by service (count, units, credits), and asks the credits owed that no open bill asks yet, in
  money at the community's credit price (rounded half up to the currency's minor unit);
- it is numbered per community (1, 2, ...; shown `B-000001`) and never changes afterwards,
  except its payment fields (services/funding/bill_payments.py pays it, once).

Issuing is a write of its own (the bill row and its `bill.issued` event), under the wallet's row
lock so that two workers cannot bill the same debt twice. An open bill past its due date
(issued + `grace_days`) suspends the credit line: `credit_line_hook` refuses a debit that would
draw on it with `credit_line_suspended` until the bill is paid (decision 0070).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import amounts, currencies, limits
from jeton.core.clock import from_us
from jeton.core.errors import Conflict, IdempotencyConflict, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.funding import base as fb
from jeton.services.funding.results import BillInfo, BillingSettings, BillLine
from jeton.services.ledger import history
from jeton.services.ledger.idempotency import claim, conflict_detail, request_hash
from jeton.services.ledger.jobs import job
from jeton.services.ledger.results import Page
from jeton.services.ledger.state import wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update, is_unique_violation
from jeton.store.tables.bills import bills
from jeton.store.tables.ledger import accounts, assets, postings, transfers

if TYPE_CHECKING:
    from jeton.app import Jeton

DAY_US = 86_400_000_000
CYCLES = ("week", "month")
SETTING = "billing:"  # + asset: one setting per asset
LINE_KINDS = ("spend", "capture")  # what a bill lists: the member's charges and metered uses
NO_SERVICE = "other"  # a line for spends that named no service


# ---- settings ----

def set_billing_settings(j: Jeton, community_id: str, *, asset: str, currency: str,
                         credit_price_minor: int, cycle: str = "month", grace_days: int = 7,
                         bill_at_percent: int | None = 90,
                         provider: str | None = None) -> BillingSettings:
    """Bill the members on a credit line for `asset` (replaces the asset's earlier setting)."""
    code = currencies.currency_code(currency)
    if type(credit_price_minor) is not int or not 1 <= credit_price_minor \
            <= limits.credit_price_minor_max:
        raise InvalidRequest(f"credit_price_minor must be 1-{limits.credit_price_minor_max}",
                             status=Status.amount_invalid)
    if cycle not in CYCLES:
        raise InvalidRequest(f"cycle must be one of {', '.join(CYCLES)}, got {cycle!r}",
                             status=Status.value_invalid)
    if type(grace_days) is not int or not 0 <= grace_days <= limits.bill_grace_days_max:
        raise InvalidRequest(f"grace_days must be 0-{limits.bill_grace_days_max}",
                             status=Status.value_invalid)
    if bill_at_percent is not None and (type(bill_at_percent) is not int
                                        or not 1 <= bill_at_percent <= 100):
        raise InvalidRequest("bill_at_percent must be 1-100 or null",
                             status=Status.value_invalid)
    if provider is not None:
        provider = j.payments.get(provider).name
    value = BillingSettings(asset=asset, currency=code, credit_price_minor=credit_price_minor,
                            cycle=cycle, grace_days=grace_days,
                            bill_at_percent=bill_at_percent, provider=provider)
    with j.store.read() as conn:
        fb.require_community(conn, community_id)
        fb.require_asset(conn, community_id, asset)
    fb.ensure_money_accounts(j.ledger, community_id, code)
    now_us = j.ledger.now_us()
    j.store.run_write(lambda conn: fb.put_setting(conn, community_id, SETTING + asset,
                                                  value.model_dump(), now_us))
    return value


def billing_settings(conn: Connection, community_id: str, asset: str) -> BillingSettings | None:
    raw = fb.get_setting(conn, community_id, SETTING + asset)
    return BillingSettings.model_validate(raw) if raw is not None else None


def get_billing_settings(j: Jeton, community_id: str, asset: str) -> BillingSettings:
    """The asset's billing, or `enabled: false` while none is set."""
    with j.store.read() as conn:
        found = billing_settings(conn, community_id, asset)
    return found or BillingSettings(enabled=False, asset=asset, currency="USD",
                                    credit_price_minor=0, cycle="month", grace_days=0)


def money_for(credits: int, price_minor: int, scale: int) -> int:
    """Credits (minor units of an asset of `scale`) at `price_minor` a whole credit, half up."""
    whole: int = 10 ** scale
    return (2 * credits * price_minor + whole) // (2 * whole)


# ---- issuing ----

def issue_bill(j: Jeton, community_id: str, member_id: str, asset: str, *,
               idempotency_key: str) -> BillInfo:
    """Bill now what the member owes and no bill asks yet (staff's "bill now").

    The same key answers the same bill. Conflict (`nothing_to_bill`) when nothing is owed."""
    key = amounts.idempotency_key(idempotency_key)
    with j.store.read() as conn:
        found = conn.execute(sa.select(bills).where(bills.c.community_id == community_id,
                                                    bills.c.request_key == key)).mappings().first()
        if found is not None:
            if (found["member_id"], found["asset"]) != (member_id, asset):
                raise IdempotencyConflict(conflict_detail(key, "bill", "bill"), key=key)
            return bill_info(found, j.ledger.now_us())
        fb.require_member(conn, community_id, member_id)
    bill_id = _issue(j, community_id, member_id, asset, force=True, request_key=key)
    if bill_id is None:
        raise Conflict(f"member {member_id!r} owes nothing that a bill does not ask already",
                       status=Status.conflict, reason="nothing_to_bill")
    return _after_issue(j, community_id, bill_id)


@job("bills.issue", 60)
def issue_due(j: Jeton, community_id: str) -> int:
    """Issue the bills that are due: a cycle ended, or a credit line nearly used."""
    with j.store.read() as conn:
        rows = conn.execute(sa.select(accounts.c.member_id, accounts.c.asset).where(
            accounts.c.community_id == community_id, accounts.c.kind == "wallet",
            accounts.c.floor < 0, accounts.c.posted < 0)
            .order_by(accounts.c.account_id).limit(limits.job_batch_size)).all()
        priced = {a for a in {r[1] for r in rows}
                  if billing_settings(conn, community_id, a) is not None}
    issued = 0
    for member_id, asset in rows:
        if asset in priced:
            bill_id = _issue(j, community_id, member_id, asset, force=False, request_key=None)
            if bill_id is not None:
                _after_issue(j, community_id, bill_id)
                issued += 1
    return issued


def _after_issue(j: Jeton, community_id: str, bill_id: str) -> BillInfo:
    """Charge a saved payment method for a new bill, if the member has one."""
    from jeton.services.funding import bill_payments

    bill_payments.collect(j, community_id, bill_id)
    return get_bill(j, community_id, bill_id)


def _issue(j: Jeton, community_id: str, member_id: str, asset: str, *, force: bool,
           request_key: str | None) -> str | None:
    for attempt in range(3):  # two workers numbering bills at once: the loser numbers again
        try:
            return fb.write_plain(j.ledger, community_id, lambda ws: _issue_in(
                ws, member_id, asset, force=force, request_key=request_key))
        except sa.exc.IntegrityError as exc:
            if attempt < 2 and is_unique_violation(exc):
                continue
            raise
    return None


def _issue_in(ws: WorkSet, member_id: str, asset: str, *, force: bool,
              request_key: str | None) -> str | None:
    conn, cid, now = ws.conn, ws.community_id, ws.now_us
    if request_key is not None:  # first: a key taken by another write is refused as such
        claim(conn, cid, request_key, "bill", request_hash(
            "bill", {"member": member_id, "asset": asset}), now)
    settings = billing_settings(conn, cid, asset)
    if settings is None:
        if force:
            raise Conflict(f"no billing is set for {asset}: set the credit price first",
                           status=Status.conflict, reason="billing_not_set")
        return None
    wid = wallet_id(member_id, asset)
    ws.load([wid])  # the wallet's row lock: one biller at a time
    acct = ws.accounts.get(wid)
    owed_lot = ws.overdraft_lot(wid)
    owed = -owed_lot.remaining if owed_lot is not None else 0
    if acct is None or owed <= 0:
        return None
    b = bills.c
    asked = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(b.credits_due), 0)).where(
        b.community_id == cid, b.member_id == member_id, b.asset == asset,
        b.status == "open")).scalar_one()
    due = owed - int(asked)
    if due <= 0:
        return None
    last = conn.execute(sa.select(b.period_end_us, b.through_transfer_id).where(
        b.community_id == cid, b.member_id == member_id, b.asset == asset)
        .order_by(b.number.desc()).limit(1)).first()
    lines, through, first_at = _lines(conn, cid, wid, last[1] if last else None)
    start = last[0] if last else min(first_at if first_at is not None else now, now)
    reason = "staff" if force else None
    line_size = -(acct.floor or 0)
    if reason is None and settings.bill_at_percent is not None and line_size > 0 \
            and due * 100 >= settings.bill_at_percent * line_size:
        reason = "line_nearly_used"
    end = now
    if reason is None:
        cycle_key, cycle_start = fb.period_bounds(settings.cycle, now)
        if fb.period_bounds(settings.cycle, start)[0] == cycle_key:
            return None  # the cycle is still running
        reason, end = "cycle_end", cycle_start
    scale = conn.execute(sa.select(assets.c.scale).where(
        assets.c.community_id == cid, assets.c.code == asset)).scalar_one()
    amount_minor = money_for(due, settings.credit_price_minor, scale)
    if amount_minor <= 0:
        return None  # under one minor unit of money: it waits for the next cycle
    number = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(b.number), 0)).where(
        b.community_id == cid)).scalar_one()) + 1
    bill_id = new_id()
    charged = sum(line.credits for line in lines)
    conn.execute(bills.insert().values(
        community_id=cid, bill_id=bill_id, number=number, member_id=member_id, asset=asset,
        status="open", reason=reason, credits_charged=charged, credits_due=due,
        amount_minor=amount_minor, currency=settings.currency,
        credit_price_minor=settings.credit_price_minor,
        lines_json=json.dumps([line.model_dump() for line in lines]),
        period_start_us=min(start, end), period_end_us=end, through_transfer_id=through,
        issued_at_us=now, due_at_us=now + settings.grace_days * DAY_US,
        request_key=request_key))
    row = conn.execute(sa.select(bills).where(b.community_id == cid,
                                              b.bill_id == bill_id)).mappings().one()
    ws.emit("bill.issued", member_id, event_payload(row, now))
    return bill_id


def _lines(conn: Connection, community_id: str, wid: str, after: str | None
           ) -> tuple[list[BillLine], str | None, int | None]:
    """The wallet's charges after transfer `after`, by service; the last transfer read; when
    the first of them happened."""
    p, t = postings.c, transfers.c
    # In the wallet's own order, by version (decision 0108): a transfer that commits after
    # this read comes after every one it read, whatever its id.
    stmt = (sa.select(t.transfer_id, t.kind, t.service, t.metadata_json, t.effective_at_us,
                      p.amount)
            .select_from(postings.join(transfers, sa.and_(
                t.community_id == p.community_id, t.transfer_id == p.transfer_id)))
            .where(*history.wallet_postings(community_id, wid))
            .order_by(p.account_version).limit(limits.bill_transfers_max))
    if after is not None:
        stmt = stmt.where(p.account_version > history.version_at(community_id, wid, after))
    count: dict[str, int] = defaultdict(int)
    units: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    through: str | None = after
    first_at: int | None = None
    for transfer_id, kind, service, meta_json, at_us, amount in conn.execute(stmt):
        through = transfer_id
        if kind not in LINE_KINDS or amount >= 0:
            continue
        name = service or NO_SERVICE
        quantity = json.loads(meta_json or "{}").get("quantity")
        count[name] += 1
        units[name] += quantity if type(quantity) is int and quantity > 0 else 1
        credits[name] += -amount
        first_at = at_us if first_at is None else min(first_at, at_us)
    lines = [BillLine(service=s, count=count[s], units=units[s], credits=credits[s])
             for s in sorted(credits)]
    return lines, through, first_at


# ---- reads ----

def number_text(number: int) -> str:
    return f"B-{number:06d}"


def bill_info(row: RowMapping, now_us: int) -> BillInfo:
    lines = [BillLine.model_validate(x) for x in json.loads(row["lines_json"])]
    return BillInfo(
        id=row["bill_id"], number=row["number"], number_text=number_text(row["number"]),
        member_id=row["member_id"], asset=row["asset"], status=row["status"],
        reason=row["reason"], past_due=row["status"] == "open" and row["due_at_us"] <= now_us,
        lines=lines, credits_charged=row["credits_charged"],
        credits_applied=row["credits_charged"] - row["credits_due"],
        credits_due=row["credits_due"], amount_minor=row["amount_minor"],
        currency=row["currency"], credit_price_minor=row["credit_price_minor"],
        period_start=from_us(row["period_start_us"]), period_end=from_us(row["period_end_us"]),
        issued_at=from_us(row["issued_at_us"]), due_at=from_us(row["due_at_us"]),
        paid_at=from_us(row["paid_at_us"]) if row["paid_at_us"] is not None else None,
        purchase_id=row["purchase_id"], grant_transfer_id=row["grant_transfer_id"],
        failures=row["failures"], last_failure=row["last_failure"])


def event_payload(row: RowMapping, now_us: int) -> dict[str, Any]:
    info = bill_info(row, now_us)
    return {"bill_id": info.id, "number": info.number_text, "member_id": info.member_id,
            "asset": info.asset, "credits_due": info.credits_due,
            "amount_minor": info.amount_minor, "currency": info.currency,
            "status": info.status, "due_at": info.due_at.isoformat()}


def find_bill(conn: Connection, community_id: str, bill_id: str, *,
              lock: bool = False) -> RowMapping:
    stmt = sa.select(bills).where(bills.c.community_id == community_id,
                                  bills.c.bill_id == bill_id)
    if lock:
        stmt = for_update(stmt, conn.dialect.name)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound(f"no bill {bill_id!r}", status=Status.not_found)
    return row


def get_bill(j: Jeton, community_id: str, bill_id: str) -> BillInfo:
    with j.store.read() as conn:
        return bill_info(find_bill(conn, community_id, bill_id), j.ledger.now_us())


def list_bills(j: Jeton, community_id: str, member_id: str | None = None, *,
               status: str | None = None, limit: int = limits.page_size_default,
               starting_after: str | None = None) -> Page[BillInfo]:
    """Bills newest first, of one member or of everyone, optionally of one status."""
    if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
        raise InvalidRequest(f"limit must be 1-{limits.page_size_max}",
                             status=Status.value_invalid)
    if status is not None and status not in ("open", "paid"):
        raise InvalidRequest("status must be open or paid", status=Status.value_invalid)
    b = bills.c
    stmt = sa.select(bills).where(b.community_id == community_id)
    if member_id is not None:
        stmt = stmt.where(b.member_id == member_id)
    if status is not None:
        stmt = stmt.where(b.status == status)
    if starting_after:
        stmt = stmt.where(b.bill_id < starting_after)
    now_us = j.ledger.now_us()
    with j.store.read() as conn:
        rows = conn.execute(stmt.order_by(b.bill_id.desc()).limit(limit + 1)).mappings().all()
    data = [bill_info(r, now_us) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)


def bill_csv(info: BillInfo, community_name: str) -> str:
    """The bill as a CSV document a member downloads: a header block, then one row a service."""
    rows = [["bill", info.number_text], ["community", community_name],
            ["member", info.member_id], ["status", info.status],
            ["period", f"{info.period_start.isoformat()} to {info.period_end.isoformat()}"],
            ["issued", info.issued_at.isoformat()], ["due", info.due_at.isoformat()], [],
            ["service", "count", "units", "credits"]]
    rows += [[x.service, str(x.count), str(x.units), str(x.credits)] for x in info.lines]
    rows += [[], ["credits charged", str(info.credits_charged)],
             ["paid from credits or refunded", str(info.credits_applied)],
             ["credits due", str(info.credits_due)],
             ["credit price (minor units)", str(info.credit_price_minor)],
             ["amount due (minor units)", str(info.amount_minor)],
             ["currency", info.currency]]
    return "".join(",".join(_csv_cell(c) for c in r) + "\r\n" for r in rows)


def _csv_cell(value: str) -> str:
    if any(ch in value for ch in ',"\r\n') or value[:1] in ("=", "+", "-", "@"):
        return '"' + value.replace('"', '""') + '"'
    return value
