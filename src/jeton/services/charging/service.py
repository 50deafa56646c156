"""Charging: may a member use a service of the catalog, for how much, and taking it.

`check` and `charge` run the same evaluation (`_evaluate`): the member's classes and keys and
the active catalog version in one statement, the plan discount (a hook of the funding side),
the allowance counter when the service has an allowance, then `core.offers.make_offer`. So a
check and the charge after it agree on price and permission, and the charge adds one round
trip to a plain spend (two with an allowance).

`charge` is one write transaction: it claims the idempotency key, counts the allowance (an
atomic upsert), asks the funding sources, and books one transfer with its splits
(`Ledger.apply_spend`), or pays the member from promotions for a negative price. A replay
returns the stored receipt marked `replayed`. A decline writes nothing; a `charge.declined`
event is then recorded in a small transaction of its own, and an out-of-credits decline is an
`InsufficientCredits` carrying the balance, the amount required and what would fix it.

Metered use lives in services/charging/metered.py, catalog storage in services/charging/catalogs.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.access import evaluate
from jeton.core.allowances import window_key
from jeton.core.clock import from_us, to_us
from jeton.core.errors import (
    InsufficientCredits,
    InvariantViolation,
    JetonError,
    NotFound,
)
from jeton.core.offers import make_offer
from jeton.core.prices import basis_points
from jeton.core.rewards import grant_reward
from jeton.core.splits import REVENUE_TEXT
from jeton.core.statuses import Status
from jeton.core.transfers import TransferDraft, TransferKind
from jeton.services.charging import leases
from jeton.services.charging.catalogs import Catalogs
from jeton.services.charging.funding_sources import (
    FundingRequest,
    FundingSource,
    FundingSources,
    paid_amount,
    reference_for,
)
from jeton.services.charging.hooks import PackSuggestions, no_packs
from jeton.services.charging.offers import (
    DECLINE_EVENTS,
    Evaluation,
    available,
    may_charge,
    offer_fields,
    receipt,
    request_fields,
    short_text,
    split_lines,
    upgrades,
    usable_offer,
)
from jeton.services.charging.reads import (
    Snapshot,
    add_allowance_use,
    add_reward,
    allowance_used,
    prune_counters,
    snapshot,
    snapshot_of,
    snapshot_read,
)
from jeton.services.charging.results import (
    ChargeReceipt,
    CheckResult,
    ExternalPayment,
    FixInfo,
    ReasonInfo,
    RewardResult,
    SplitLine,
)
from jeton.services.charging.together import PlannedCharge
from jeton.services.events.outbox import Events
from jeton.services.ledger import idempotency
from jeton.services.ledger.jobs import job
from jeton.services.ledger.results import (
    LotMoveInfo,
    Result,
    SpendRequest,
    Split,
    TransferResult,
    trusted,
)
from jeton.services.ledger.service import Ledger
from jeton.services.ledger.state import Acct, Declined, Header, LotSpec, system_id, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.ledger import communities

if TYPE_CHECKING:
    from jeton.app import Jeton

R = TypeVar("R", bound=Result)


class Refused(Exception):
    """Ends a write transaction without writing, answering `result` (a reward at its limit)."""

    def __init__(self, result: Result) -> None:
        super().__init__("refused")
        self.result = result


class Charging:
    """Catalogs, check, charge, metered use and rewards over one Ledger (module docstring).

    The funding side plugs in through `plan_discount_query`, `pack_suggestions`
    (charging_hooks.py)
    and `funding_sources` (funding_sources.py).
    """

    def __init__(self, ledger: Ledger, *, events: Events | None = None) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.catalogs = Catalogs(ledger.store, ledger.clock)
        self.plan_discount_query: sa.Select[Any] | None = None  # None: no plan discounts
        self.suspension_query: sa.Select[Any] | None = None  # None: credit lines always lend
        self.pack_suggestions: PackSuggestions = no_packs
        self.funding_sources = FundingSources()
        self.events = events or Events(ledger.store, ledger.clock)
        self._known_communities: set[str] = set()
        self._source_accounts: set[tuple[str, str, str]] = set()
        from jeton.services.charging.metered import Metering

        self.metering = Metering(self)

    # ---- check ----

    def check(self, community_id: str, member_id: str, service: str, quantity: int = 1, *,
              context: Mapping[str, str] | None = None, session_id: str | None = None,
              asset: str = "CREDIT") -> CheckResult:
        """May `member_id` use `quantity` of `service` now, for how much, paid by which lots;
        when not, why and what would fix it. Writes nothing. A member id that is not a member
        gets the list price and a prompt to join (status forbidden, reason not_a_member)."""
        code, quantity, ctx, asset = request_fields(service, quantity, context, session_id, asset)
        now_us = self.ledger.now_us()
        base: dict[str, Any] = {"member_id": member_id, "service": code,
                                "quantity": quantity, "asset": asset}
        with self.store.read() as conn:
            self.require_community(conn, community_id)
            ev = self.evaluate_use(conn, community_id, member_id, code, quantity, session_id,
                                now_us, count=False)
            offer = ev.offer
            if ev.service is None or offer is None or not ev.visible:
                return CheckResult(allowed=False, status=Status.service_not_found.value,
                                   visible=False, **base)
            found = offer_fields(offer)
            if offer.status is Status.forbidden:
                return CheckResult(
                    allowed=False, status=offer.status.value, **base, **found,
                    reasons=[ReasonInfo(kind=r.kind.value, name=r.name, expired_at=r.expired_at)
                             for r in offer.access.reasons],
                    fixes=[FixInfo(kind=f.kind.value, name=f.name) for f in offer.access.fixes])
            if offer.status is Status.limit_exceeded:
                return CheckResult(allowed=False, status=offer.status.value, **base, **found,
                                   reasons=[ReasonInfo(kind="allowance_used")])
            lines = leases.with_share(split_lines(offer.splits, member_id, ctx),
                                      ev.snap.lease_for(code), member_id, offer.charge)
            wid = wallet_id(member_id, asset)
            ws = WorkSet(conn, "read", community_id, now_us)
            ws.load([wid])
            acct = ws.accounts.get(wid)
            balance = available(ws, acct, code)
            if offer.charge == 0:
                return CheckResult(allowed=True, status=Status.ok.value, **base, **found,
                                   splits=lines, balance=balance)
            external, covered, instead = self._quote_sources(community_id, member_id, code,
                                                             asset, offer.charge)
            wallet_part = offer.charge - covered
            short = wallet_part if acct is None else 0
            lots: list[LotMoveInfo] = []
            if wallet_part and acct is not None:
                try:
                    plan = ws.plan_debit(acct, wallet_part, code)
                    lots = [LotMoveInfo(lot_id=lot, account_id=wid, amount=-take)
                            for lot, take in plan.draws]
                    if plan.shortfall and self.suspension_query is not None:
                        bill = conn.execute(self.suspension_query, {
                            "c": community_id, "m": member_id, "a": asset,
                            "now": now_us}).scalar()
                        if bill is not None:
                            return CheckResult(
                                allowed=False, status=Status.credit_line_suspended.value,
                                **base, **found, splits=lines, balance=balance,
                                required=wallet_part, reasons=[ReasonInfo(
                                    kind=Status.credit_line_suspended.value,
                                    name=f"B-{int(bill):06d}")])  # as bills.number_text
                except Declined as d:
                    short = wallet_part - int(d.extra.get("balance", 0))
            if instead and wallet_part:
                short = wallet_part
        common = {**base, **found, "splits": lines, "external": external, "balance": balance,
                  "required": wallet_part}
        if short <= 0:
            return CheckResult(allowed=True, status=Status.ok.value, lots=lots, **common)
        fixes = self._shortfall_fixes(community_id, member_id, asset, short, ev)
        return CheckResult(allowed=False, status=Status.insufficient_credits.value,
                           reasons=[ReasonInfo(kind=Status.insufficient_credits.value)],
                           fixes=fixes, **common)

    # ---- charge ----

    def charge(self, community_id: str, member_id: str, service: str, quantity: int = 1, *,
               idempotency_key: str, context: Mapping[str, str] | None = None,
               session_id: str | None = None, asset: str = "CREDIT", actor: str = "system",
               memo: str = "") -> ChargeReceipt:
        """Charge for `quantity` of `service`, atomically, with splits and allowance counting
        (see the module docstring). Raises InsufficientCredits, Declined (forbidden,
        limit_exceeded), NotFound (service_not_found, member_not_found) or InvalidRequest."""
        plan = self.plan_charge(community_id, member_id, service, quantity,
                                idempotency_key=idempotency_key, context=context,
                                session_id=session_id, asset=asset, actor=actor, memo=memo)
        try:
            return self.ledger.write_once(community_id, plan.key, "charge", {}, plan.body,
                                          ChargeReceipt, req_hash=plan.req_hash,
                                          now_us=plan.now_us,
                                          accounts=plan.touched, member_id=member_id,
                                          asset=plan.asset, reads=[plan.snap_read],
                                          credited=plan.parties)
        except BaseException as exc:
            failed = self.charge_failed(plan, exc)
            if failed is exc:
                raise
            raise failed from None

    def plan_charge(self, community_id: str, member_id: str, service: str, quantity: int = 1,
                    *, idempotency_key: str, context: Mapping[str, str] | None = None,
                    session_id: str | None = None, asset: str = "CREDIT",
                    actor: str = "system", memo: str = "",
                    now_us: int | None = None) -> PlannedCharge:
        """A charge's request checked, and what its write needs: the wallets, the member's
        snapshot read, and `body`, which builds the transfer on a working set (`charge` makes
        one write of it; `charge_together` many in one)."""
        key = amounts.idempotency_key(idempotency_key)
        code, quantity, ctx, asset = request_fields(service, quantity, context, session_id, asset)
        short_text(memo, "memo", limits.memo_chars_max)
        short_text(actor, "actor", 100)
        request = {"member": member_id, "service": code, "quantity": quantity, "context": ctx,
                   "session": session_id, "asset": asset, "memo": memo}
        sources = self.funding_sources.for_community(community_id)
        for source in sources:
            self.ensure_source_account(community_id, source.name, asset)
        paid: list[tuple[FundingSource, str]] = []
        seen: list[Evaluation] = []
        # The member's snapshot goes ahead with the write's first round trip (decision 0087).
        if now_us is None:
            now_us = self.ledger.now_us()
        snap_read = snapshot_read(community_id, member_id, now_us, self.plan_discount_query)

        def body(ws: WorkSet) -> ChargeReceipt:
            paid.clear()  # a retried transaction asks the sources again; they answer the same
            seen.clear()
            ev = self.evaluate_use(ws.conn, community_id, member_id, code, quantity, session_id,
                                ws.now_us, count=True,
                                snap=snapshot_of(ws.read_ahead(snap_read)))
            seen.append(ev)
            offer = usable_offer(ev, member_id, code)
            lines = leases.with_share(split_lines(offer.splits, member_id, ctx),
                                      ev.snap.lease_for(code), member_id, offer.charge)
            meta: dict[str, Any] = {"quantity": quantity,
                                    "catalog_version": ev.snap.catalog_version}
            if ctx:
                meta["context"] = ctx
            if lease_id := leases.paid_lease(lines):
                meta["lease_id"] = lease_id
            if offer.allowance is not None and offer.allowance.free:
                meta["free_units"] = offer.allowance.free
            transfer = None
            external: list[ExternalPayment] = []
            if offer.charge > 0:
                external = self._pay_from_sources(ws, sources, member_id, code, asset, key,
                                                  offer.charge, paid)
                if external:
                    meta["external"] = {e.source: e.amount for e in external}
                header = Header(TransferKind.spend, asset, member_id=member_id, service=code,
                                actor=actor, reason_code="charge", memo=memo, metadata=meta,
                                idempotency_key=key)
                if external:
                    transfer = self._spend_with_sources(ws, header, member_id, code, asset,
                                                        offer.charge, external, lines)
                else:
                    # Built from checked values (the request's, the catalog's), so without
                    # pydantic's validation, field by field in declared order.
                    req = trusted(SpendRequest, {
                        "member": member_id, "amount": offer.charge, "idempotency_key": key,
                        "asset": asset, "service": code,
                        "splits": [trusted(Split, {"amount": s.amount, "member": s.member,
                                                   "account": s.account})
                                   for s in lines if s.target != REVENUE_TEXT],
                        "memo": memo, "reason_code": "charge", "metadata": meta})
                    transfer = self.ledger.apply_spend(ws, header, req, None)
            elif offer.payout > 0:
                header = Header(TransferKind.grant, asset, member_id=member_id, service=code,
                                actor=actor, reason_code="payout", memo=memo, metadata=meta,
                                idempotency_key=key)
                transfer = self.ledger.apply_grant(ws, header, member_id, offer.payout,
                                                   LotSpec(source="payout"),
                                                   system_id("promotions", asset))
            return receipt(ws, ev, offer, member_id, code, quantity, asset, ctx, lines,
                            external, transfer)

        # The wallets a charge may touch: the member's, revenue's and those of the parties its
        # context names (an uploader's royalty), read with the key in one round trip. The
        # parties' are only credited, and the receipt names none of their balances: on
        # PostgreSQL they take their lock in the commit's round trip, not the first, so that
        # the charges of many buyers paying one popular uploader do not queue on the
        # uploader's wallet (decision 0097).
        parties = [wallet_id(who, asset) for who in ctx.values() if who != member_id]
        touched = [wallet_id(member_id, asset), system_id("revenue", asset), *parties]
        return PlannedCharge(community_id, member_id, code, quantity, asset, key,
                             idempotency.request_hash("charge", request), now_us, snap_read,
                             body, touched, parties, paid, seen)

    def charge_failed(self, plan: PlannedCharge, exc: BaseException) -> BaseException:
        """What a charge's caller gets when its write raised `exc`: the payments the funding
        sources made for it refunded, and a decline recorded (`charge.declined`)."""
        for source, reference in plan.paid:
            source.refund(reference)
        if isinstance(exc, JetonError) and exc.status in DECLINE_EVENTS:
            return self.declined(plan.community_id, plan.member_id, plan.code, plan.quantity,
                                 plan.asset, plan.key, exc, plan.seen[0] if plan.seen else None)
        return exc

    # ---- rewards ----

    def reward(self, community_id: str, member_id: str, reward: str, *, idempotency_key: str,
               session_id: str | None = None, asset: str = "CREDIT", actor: str = "system",
               memo: str = "") -> RewardResult:
        """Post a reward of the catalog (poll completed: +5) to a member, from promotions.
        Past its per-member limit the answer is status `limit_exceeded` and nothing is
        written."""
        key = amounts.idempotency_key(idempotency_key)
        code = amounts.service_code(reward)
        asset = amounts.asset_code(asset)
        if session_id is not None:
            amounts.external_id(session_id, "session id")
        short_text(memo, "memo", limits.memo_chars_max)
        request = {"member": member_id, "reward": code, "session": session_id, "asset": asset,
                   "memo": memo}

        def body(ws: WorkSet) -> RewardResult:
            snap = snapshot(ws.conn, community_id, member_id, ws.now_us)
            catalog = self.catalogs.active(ws.conn, community_id, snap.catalog_version)
            found = catalog.rewards.get(code)
            if found is None:
                raise Declined(Status.not_found, f"no reward {code!r} in the catalog",
                               reward=code)
            if not snap.is_member:
                raise Declined(Status.member_not_found, f"no member {member_id!r}",
                               member=member_id)
            now = from_us(ws.now_us)
            window = window_key(found.period, now, session_id)
            before = add_reward(ws.conn, community_id, member_id, code, window, found.limit,
                                ws.now_us)
            if before is None:
                raise Refused(RewardResult(status=Status.limit_exceeded.value,
                                           member_id=member_id, reward=code, credits=0,
                                           window=window, left=0))
            granted = grant_reward(found, before, now, session_id)
            header = Header(TransferKind.grant, asset, member_id=member_id, service=code,
                            actor=actor, reason_code="reward", memo=memo,
                            metadata={"reward": code, "window": window}, idempotency_key=key)
            transfer = self.ledger.apply_grant(ws, header, member_id, granted.credits,
                                               LotSpec(source="reward"),
                                               system_id("promotions", asset))
            return RewardResult(status=Status.ok.value, member_id=member_id, reward=code,
                                credits=granted.credits, window=window,
                                left=granted.left_after, transfer_id=transfer.id,
                                balance_after=transfer.balance_after)

        try:
            return self.once(community_id, key, "reward", request, body, RewardResult)
        except Refused as refused:
            if not isinstance(refused.result, RewardResult):
                raise InvariantViolation("a reward refusal answers a RewardResult") from None
            return refused.result

    # ---- the evaluation both check and charge run ----

    def evaluate_use(self, conn: Connection, community_id: str, member_id: str, code: str,
                     quantity: int, session_id: str | None, now_us: int, *,
                     count: bool, snap: Snapshot | None = None) -> Evaluation:
        """What using `code` costs the member now; `snap`: their snapshot, read already."""
        if snap is None:
            snap = snapshot(conn, community_id, member_id, now_us, self.plan_discount_query)
        now = from_us(now_us)
        catalog = self.catalogs.active(conn, community_id, snap.catalog_version)
        found = catalog.services.get(code)
        if found is None:
            return Evaluation(snap, None, None, now=now)
        holdings = snap.holdings if snap.is_member else None
        discount = 0
        if holdings is not None and may_charge(found.price):
            discount = basis_points(snap.discount_bp, "plan discount")
        used = 0
        if (holdings is not None and found.allowance is not None and quantity > 0
                and evaluate(found.access, holdings, now).allowed):
            window = window_key(found.allowance.period, now, session_id)
            if count:
                used = add_allowance_use(conn, community_id, member_id, code, window, quantity,
                                         now_us)
            else:
                used = allowance_used(conn, community_id, member_id, code, window)
        offer = make_offer(found, holdings, quantity, now, discount_bp=discount,
                           used_in_window=used, session_id=session_id)
        return Evaluation(snap, found, offer, discount, now)

    # ---- funding sources ----

    def ensure_source_account(self, community_id: str, name: str, asset: str) -> None:
        """The ledger account a funding source's payments are booked against (made once)."""
        if (community_id, name, asset) in self._source_accounts:
            return
        self.ledger.create_account(community_id, name, asset, kind="external")
        self._source_accounts.add((community_id, name, asset))

    def _quote_sources(self, community_id: str, member_id: str, code: str, asset: str,
                       amount: int) -> tuple[list[ExternalPayment], int, bool]:
        external: list[ExternalPayment] = []
        covered = 0
        instead = False
        for source in self.funding_sources.for_community(community_id):
            instead = instead or source.replaces_wallet
            left = amount - covered
            if left == 0:
                break
            request = FundingRequest(community_id, member_id, code, left, asset, "quote")
            got = paid_amount(source, source.quote(request), left)
            if got:
                external.append(ExternalPayment(source=source.name, amount=got,
                                                reference=""))
                covered += got
        return external, covered, instead

    def _pay_from_sources(self, ws: WorkSet, sources: Sequence[FundingSource],
                          member_id: str, code: str, asset: str, key: str, amount: int,
                          paid: list[tuple[FundingSource, str]]) -> list[ExternalPayment]:
        external: list[ExternalPayment] = []
        covered = 0
        for source in sources:
            left = amount - covered
            if left == 0:
                break
            reference = reference_for(ws.community_id, key, source.name)
            request = FundingRequest(ws.community_id, member_id, code, left, asset, reference)
            paid.append((source, reference))  # refunded if anything below fails
            got = paid_amount(source, source.try_pay(request), left)
            if got:
                external.append(ExternalPayment(source=source.name, amount=got,
                                                reference=reference))
                covered += got
        if covered < amount and any(s.replaces_wallet for s in sources):
            raise Declined(Status.insufficient_credits,
                           f"the funding sources pay {covered} of the {amount} "
                           f"{asset} required", balance=covered, required=amount,
                           member=member_id, asset=asset)
        return external

    def _spend_with_sources(self, ws: WorkSet, header: Header, member_id: str, code: str,
                            asset: str, amount: int, external: list[ExternalPayment],
                            lines: list[SplitLine]) -> TransferResult:
        """One spend transfer whose debit side is the wallet *and* the sources' accounts."""
        revenue = system_id("revenue", asset)
        wallet_part = amount - sum(e.amount for e in external)
        ids = [wallet_id(member_id, asset), revenue]
        ids += [system_id(e.source, asset) for e in external]
        ids += [wallet_id(s.member, asset) if s.member else system_id(s.account or "", asset)
                for s in lines]
        ws.load(ids[:1])  # the payer's lots; the others are credited (`WorkSet.credit`)
        ws.load(ids[1:], with_lots=False)
        wallet = ws.ensure_wallet(member_id, asset)
        targets: list[tuple[Acct, int]] = []
        for line in lines:
            if line.target == REVENUE_TEXT:
                continue
            target = (ws.ensure_wallet(line.member, asset) if line.member
                      else ws.account(system_id(line.account or "", asset)))
            targets.append((target, line.amount))
        draft = TransferDraft(TransferKind.spend, asset)
        if wallet_part:
            plan = ws.plan_debit(wallet, wallet_part, code)
            ws.draw(draft, wallet, wallet_part, plan)
        for e in external:
            draft.add(ws.account(system_id(e.source, asset)).account_id, -e.amount)
        rest = amount
        for target, part in targets:
            if target.kind == "wallet":
                ws.credit(draft, target, part, LotSpec(source="royalty"))
            else:
                draft.add(target.account_id, part)
            rest -= part
        if rest:
            draft.add(ws.account(revenue).account_id, rest)
        return ws.commit_transfer(header, draft, wallet)

    # ---- declines ----

    def declined(self, community_id: str, member_id: str, code: str, quantity: int,
                  asset: str, key: str, exc: JetonError,
                  ev: Evaluation | None) -> JetonError:
        """Record `charge.declined` and return the error to raise (enriched when short)."""
        extra = dict(exc.extra)
        payload = {"member_id": member_id, "service": code, "quantity": quantity,
                   "asset": asset, "status": exc.status.value, "detail": exc.detail,
                   "idempotency_key": key}
        if exc.status is Status.insufficient_credits:
            balance = int(extra.get("balance", 0))
            required = int(extra.get("required", 0))
            shortfall = max(required - balance, 0)
            fixes = self._shortfall_fixes(community_id, member_id, asset, shortfall, ev)
            payload.update(balance=balance, required=required, shortfall=shortfall)
            error: JetonError = InsufficientCredits(
                f"{member_id!r} has {balance} {asset} available, {required} required for "
                f"{code}", balance=balance, required=required, shortfall=shortfall,
                member=member_id, asset=asset, service=code,
                fixes=[f.model_dump(mode="json", exclude_none=True) for f in fixes])
        else:
            error = exc
        self.events.record(community_id, "charge.declined", member_id, payload)
        return error

    def _shortfall_fixes(self, community_id: str, member_id: str, asset: str, shortfall: int,
                         ev: Evaluation | None) -> list[FixInfo]:
        fixes = [FixInfo(kind="buy_pack", name=p.name, credits=p.credits, pack=p)
                 for p in self.pack_suggestions(community_id, member_id, shortfall, asset)]
        fixes.append(FixInfo(kind="buy_credits", credits=shortfall))
        if ev is not None and ev.service is not None and ev.offer is not None:
            fixes += upgrades(ev.service, ev.offer, ev.snap.holdings, ev.now, ev.discount_bp)
        return fixes

    # ---- the write transaction ----

    def once(self, community_id: str, key: str, operation: str, request: dict[str, Any],
             body: Callable[[WorkSet], R], result_type: type[R]) -> R:
        """Run `body` once per idempotency key (the ledger's own write path)."""
        return self.ledger.write_once(community_id, key, operation, request, body, result_type)

    def require_community(self, conn: Connection, community_id: str) -> None:
        if community_id in self._known_communities:
            return
        if conn.execute(sa.select(communities.c.community_id).where(
                communities.c.community_id == community_id)).first() is None:
            raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
        self._known_communities.add(community_id)


# ---- helpers ----


@job("charging.prune_counters", 86_400)
def _prune_counters_job(j: Jeton, community_id: str) -> int:
    """Forget allowance and reward counters of windows that have ended (see
    `limits.counter_retention_days`), a batch per transaction."""
    before_us = to_us(j.clock.now()) - limits.counter_retention_days * 86_400_000_000
    total = 0
    while True:
        done = j.store.run_write(
            lambda conn: prune_counters(conn, community_id, before_us, limits.job_batch_size))
        total += done
        if done < limits.job_batch_size:
            return total
