"""The ledger's use cases: communities, assets, members, and every movement of credits.

Each write is one database transaction that claims its idempotency key, locks the accounts it
touches in sorted order, plans against their live lots (failing with a status and writing
nothing), then applies and flushes. See services/workset.py for the mechanics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core import lots as lotlib
from jeton.core.clock import Clock, SystemClock, from_us, to_us
from jeton.core.errors import Conflict, InvalidRequest, JetonError, NotFound, error_for
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.core.transfers import TransferDraft, TransferKind
from jeton.services import idempotency
from jeton.services.results import (
    AccountInfo,
    AssetInfo,
    Balance,
    BatchItem,
    CommunityInfo,
    HoldResult,
    LotInfo,
    LotMoveInfo,
    MemberInfo,
    Page,
    PostingInfo,
    Result,
    SpendRequest,
    Split,
    StatementLine,
    TransferResult,
    trusted,
)
from jeton.services.workset import (
    SYSTEM_KINDS,
    Acct,
    Declined,
    Header,
    LotSpec,
    WorkSet,
    system_id,
    wallet_id,
)
from jeton.store.dialect import for_update, is_unique_violation
from jeton.store.engine import Store
from jeton.store.tables.ledger import (
    accounts,
    assets,
    communities,
    hold_lots,
    holds,
    lots,
    members,
    posting_lots,
    postings,
    transfers,
)

R = TypeVar("R", bound=Result)
Hook = Callable[[WorkSet, list[TransferResult]], None]
_REVERSIBLE = {k.value for k in TransferKind} - {"expiry", "reversal"}


def _meta(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if not metadata:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be an object", status=Status.value_invalid)
    raw = json.dumps(metadata, default=str)
    if len(raw.encode()) > limits.metadata_bytes_max:
        raise InvalidRequest(f"metadata is over {limits.metadata_bytes_max} bytes",
                             status=Status.metadata_too_large)
    return metadata


def _text(value: str, what: str, chars_max: int) -> str:
    if not isinstance(value, str) or len(value) > chars_max:
        raise InvalidRequest(f"{what} must be text of at most {chars_max} characters",
                             status=Status.value_invalid)
    return value


class Ledger:
    """The in-process ledger over one Store. Thread-safe; share one per process."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        # Called inside every write transaction after its transfers are built, before flush:
        # funding (auto-recharge) and webhooks (balance.low) hook in here.
        self.hooks: list[Hook] = []
        self._known_communities: set[str] = set()

    def now_us(self) -> int:
        return to_us(self.clock.now())

    # ---- setup ----

    def create_community(self, name: str, community_id: str | None = None,
                         metadata: dict[str, Any] | None = None) -> CommunityInfo:
        cid = amounts.external_id(community_id, "community id") if community_id else new_id()
        name = _text(name, "name", 200)
        now = self.now_us()

        def tx(conn: Connection) -> CommunityInfo:
            existing = conn.execute(sa.select(communities.c.name, communities.c.created_at_us)
                                    .where(communities.c.community_id == cid)).first()
            if existing is not None:
                if existing[0] != name:
                    raise Conflict(f"community {cid!r} already exists",
                                   status=Status.already_exists)
                return CommunityInfo(id=cid, name=name, created_at=from_us(existing[1]))
            conn.execute(communities.insert().values(
                community_id=cid, name=name, metadata_json=json.dumps(_meta(metadata)),
                created_at_us=now))
            return CommunityInfo(id=cid, name=name, created_at=from_us(now))

        return self.store.run_write(tx)

    def get_community(self, community_id: str) -> CommunityInfo:
        with self.store.read() as conn:
            row = conn.execute(sa.select(communities.c.name, communities.c.created_at_us)
                               .where(communities.c.community_id == community_id)).first()
        if row is None:
            raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
        return CommunityInfo(id=community_id, name=row[0], created_at=from_us(row[1]))

    def list_communities(self) -> list[CommunityInfo]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(communities.c.community_id, communities.c.name,
                                          communities.c.created_at_us)
                                .order_by(communities.c.community_id)).all()
        return [CommunityInfo(id=r[0], name=r[1], created_at=from_us(r[2])) for r in rows]

    def create_asset(self, community_id: str, code: str, scale: int = 0,
                     name: str = "") -> AssetInfo:
        """An asset with its system accounts (issuance, promotions, revenue, breakage)."""
        code = amounts.asset_code(code)
        scale = amounts.asset_scale(scale)
        name = _text(name, "name", 100)
        now = self.now_us()

        def tx(conn: Connection) -> AssetInfo:
            self._require_community(conn, community_id)
            row = conn.execute(sa.select(assets.c.scale, assets.c.name).where(
                assets.c.community_id == community_id, assets.c.code == code)).first()
            if row is not None:
                if row[0] != scale:
                    raise Conflict(f"asset {code} exists with scale {row[0]}",
                                   status=Status.already_exists)
                return AssetInfo(code=code, scale=row[0], name=row[1])
            conn.execute(assets.insert().values(community_id=community_id, code=code,
                                                scale=scale, name=name, created_at_us=now))
            conn.execute(accounts.insert(), [
                {"community_id": community_id, "account_id": system_id(kind, code),
                 "kind": kind, "member_id": None, "asset": code, "name": kind,
                 "tracked": False, "floor": None, "created_at_us": now}
                for kind in SYSTEM_KINDS])
            return AssetInfo(code=code, scale=scale, name=name)

        return self.store.run_write(tx)

    def list_assets(self, community_id: str) -> list[AssetInfo]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(assets.c.code, assets.c.scale, assets.c.name).where(
                assets.c.community_id == community_id).order_by(assets.c.code)).all()
        return [AssetInfo(code=r[0], scale=r[1], name=r[2]) for r in rows]

    def create_account(self, community_id: str, name: str, asset: str, *,
                       kind: str = "custom", floor: int | None = None) -> AccountInfo:
        """A named account of the community, e.g. `appstore` for a fixed fee on downloads.

        Named accounts are untracked (no hot row): any number of charges may credit one.
        """
        name = amounts.external_id(name, "account name")
        asset = amounts.asset_code(asset)
        if name in SYSTEM_KINDS or name.startswith("wallet"):
            raise InvalidRequest(f"{name!r} is reserved", status=Status.value_invalid)
        account_id = system_id(name, asset)
        now = self.now_us()

        def tx(conn: Connection) -> AccountInfo:
            self._require_asset(conn, community_id, asset)
            found = conn.execute(sa.select(accounts.c.kind).where(
                accounts.c.community_id == community_id,
                accounts.c.account_id == account_id)).first()
            if found is None:
                conn.execute(accounts.insert().values(
                    community_id=community_id, account_id=account_id, kind=kind, asset=asset,
                    name=name, tracked=False, floor=None, created_at_us=now))
            return AccountInfo(id=account_id, kind=found[0] if found else kind, asset=asset,
                               name=name, floor=floor)

        try:
            return self.store.run_write(tx)
        except Declined as d:  # an unknown asset: the caller gets the public exception
            raise d.error() from None

    def create_member(self, community_id: str, member_id: str, *, name: str = "",
                      email: str | None = None, metadata: dict[str, Any] | None = None,
                      on_created: Callable[[WorkSet, MemberInfo], None] | None = None,
                      ) -> MemberInfo:
        """A member; creating one that exists with the same details returns it (idempotent).

        `on_created` runs in the same transaction for a new member only: the sign-up bonus.
        """
        member_id = amounts.external_id(member_id, "member id")
        name = _text(name, "name", 200)
        if email is not None:
            _text(email, "email", 200)
        meta = _meta(metadata)

        def tx(conn: Connection) -> MemberInfo:
            self._require_community(conn, community_id)
            row = conn.execute(sa.select(members.c.name, members.c.email, members.c.metadata_json,
                                         members.c.created_at_us).where(
                members.c.community_id == community_id,
                members.c.member_id == member_id)).first()
            if row is not None:
                return MemberInfo(id=member_id, name=row[0], email=row[1],
                                  metadata=json.loads(row[2]), created_at=from_us(row[3]))
            now = self.now_us()
            conn.execute(members.insert().values(
                community_id=community_id, member_id=member_id, name=name, email=email,
                metadata_json=json.dumps(meta), created_at_us=now))
            info = MemberInfo(id=member_id, name=name, email=email, metadata=meta,
                              created_at=from_us(now))
            if on_created is not None:
                ws = WorkSet(conn, self.store.dialect, community_id, now)
                try:
                    on_created(ws, info)
                except Declined as d:
                    raise d.error() from None
                self._run_hooks(ws)
                ws.flush()
            return info

        return self.store.run_write(tx)

    def get_member(self, community_id: str, member_id: str) -> MemberInfo:
        with self.store.read() as conn:
            row = conn.execute(sa.select(members.c.name, members.c.email, members.c.metadata_json,
                                         members.c.created_at_us).where(
                members.c.community_id == community_id,
                members.c.member_id == member_id)).first()
        if row is None:
            raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)
        return MemberInfo(id=member_id, name=row[0], email=row[1], metadata=json.loads(row[2]),
                          created_at=from_us(row[3]))

    def list_members(self, community_id: str, *, limit: int = limits.page_size_default,
                     starting_after: str | None = None, search: str | None = None,
                     ) -> Page[MemberInfo]:
        limit = _page_limit(limit)
        m = members.c
        stmt = sa.select(m.member_id, m.name, m.email, m.metadata_json, m.created_at_us).where(
            m.community_id == community_id)
        if starting_after:
            stmt = stmt.where(m.member_id > starting_after)
        if search:
            like = f"%{search.lower()}%"
            stmt = stmt.where(sa.or_(sa.func.lower(m.member_id).like(like),
                                     sa.func.lower(m.name).like(like),
                                     sa.func.lower(sa.func.coalesce(m.email, "")).like(like)))
        with self.store.read() as conn:
            rows = conn.execute(stmt.order_by(m.member_id).limit(limit + 1)).all()
        data = [MemberInfo(id=r[0], name=r[1], email=r[2], metadata=json.loads(r[3]),
                           created_at=from_us(r[4])) for r in rows[:limit]]
        return Page(data=data, has_more=len(rows) > limit,
                    next_cursor=data[-1].id if len(rows) > limit else None)

    def set_credit_line(self, community_id: str, member_id: str, asset: str, floor: int) -> Balance:
        """Let a member's wallet go down to `floor` (zero or negative): post-pay, credit lines."""
        if type(floor) is not int or floor > 0 or -floor > limits.amount_max:
            raise InvalidRequest("floor must be an integer at most 0", status=Status.amount_invalid)

        def tx(conn: Connection) -> None:
            ws = WorkSet(conn, self.store.dialect, community_id, self.now_us())
            acct = self._wallet(ws, member_id, asset)
            owed = ws.overdraft_lot(acct.account_id)
            if owed is not None and owed.remaining < floor:
                raise Declined(Status.limit_exceeded, "the member already owes more than that")
            conn.execute(accounts.update().where(
                accounts.c.community_id == community_id,
                accounts.c.account_id == acct.account_id).values(floor=floor))

        self._write_plain(tx)
        return self.balance(community_id, member_id, asset)

    # ---- writes ----

    def grant(self, community_id: str, member_id: str, amount: int, *, idempotency_key: str,
              asset: str = "CREDIT", source: str = "grant", paid: bool = False,
              cost_minor: int = 0, cost_currency: str | None = None,
              expires_at: datetime | None = None, priority: int = 0, scope: str | None = None,
              from_account: str | None = None, actor: str = "system", reason_code: str = "grant",
              memo: str = "", metadata: dict[str, Any] | None = None) -> TransferResult:
        """Credits into a member's wallet as a lot: bought (paid, with cost basis) or free.

        Paid credits come from the asset's `issuance` account, free ones from `promotions`,
        unless `from_account` names another account of the community.
        """
        amount = amounts.positive_amount(amount)
        key = amounts.idempotency_key(idempotency_key)
        spec = self._lot_spec(source, paid, cost_minor, cost_currency, expires_at, priority, scope)
        source_account = system_id(from_account or ("issuance" if paid else "promotions"), asset)
        header = Header(TransferKind.grant, amounts.asset_code(asset), member_id=member_id,
                        actor=actor, reason_code=_text(reason_code, "reason code", 64),
                        memo=_text(memo, "memo", limits.memo_chars_max), metadata=_meta(metadata),
                        idempotency_key=key)
        request = {"member": member_id, "amount": amount, "asset": asset, "lot": spec,
                   "from": source_account, "reason": reason_code, "memo": memo,
                   "metadata": header.metadata}

        def body(ws: WorkSet) -> TransferResult:
            return self.apply_grant(ws, header, member_id, amount, spec, source_account)

        return self.write_once(community_id, key, "grant", request, body, TransferResult)

    def apply_grant(self, ws: WorkSet, header: Header, member_id: str, amount: int,
                    spec: LotSpec, source_account: str) -> TransferResult:
        """A grant inside a larger write (a purchase, a coupon, a sign-up bonus)."""
        if spec.expires_at_us is not None and spec.expires_at_us <= ws.now_us:
            raise Declined(Status.expiry_invalid, "expires_at is not in the future")
        ws.load([source_account], with_lots=False)
        src = ws.accounts.get(source_account)
        if src is None or src.asset != header.asset:
            self._missing_system_account(ws, header.asset, source_account)
        wallet = ws.ensure_wallet(member_id, header.asset)
        draft = TransferDraft(header.kind, header.asset)
        ws.credit(draft, wallet, amount, spec)
        draft.add(source_account, -amount)
        return ws.commit_transfer(header, draft, wallet)

    def spend(self, community_id: str, member_id: str, amount: int, *, idempotency_key: str,
              asset: str = "CREDIT", service: str | None = None,
              splits: Sequence[Split | dict[str, Any]] = (), to_account: str | None = None,
              actor: str = "system", reason_code: str = "spend", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        """Take credits from a member's wallet, in spend order, paying the platform's revenue
        and any splits (royalties to members, fees to named accounts) in one transfer."""
        req = SpendRequest(member=member_id, amount=amount, idempotency_key=idempotency_key,
                           asset=asset, service=service, splits=[_split(s) for s in splits],
                           memo=memo, reason_code=reason_code, metadata=metadata or {})
        self._check_spend(req)
        header, request = self._spend_header(req, actor, to_account)

        def body(ws: WorkSet) -> TransferResult:
            return self.apply_spend(ws, header, req, to_account)

        return self.write_once(community_id, req.idempotency_key, "spend", request, body,
                            TransferResult)

    def spend_batch(self, community_id: str, items: Sequence[SpendRequest | dict[str, Any]], *,
                    actor: str = "system") -> list[BatchItem]:
        """Many spends in one transaction, each with its own key and its own status.

        A declined item writes nothing and does not stop the others. Each item is the spend
        `spend` would make (same rows, same answer, same key), on one working set.
        """
        if len(items) > limits.batch_size_max:
            raise InvalidRequest(f"a batch holds at most {limits.batch_size_max} items",
                                 status=Status.batch_too_large)
        results: list[BatchItem | None] = [None] * len(items)
        prepared: list[tuple[int, SpendRequest, Header, str]] = []
        for i, raw in enumerate(items):
            try:
                req = raw if isinstance(raw, SpendRequest) else SpendRequest.model_validate(raw)
                self._check_spend(req)
                prepared.append((i, req, _spend_transfer_header(req, actor),
                                 _spend_request_hash(req)))
            except JetonError as exc:
                results[i] = BatchItem(index=i, status=exc.status.value, detail=exc.detail)
            except ValueError as exc:
                results[i] = BatchItem(index=i, status=Status.value_invalid.value,
                                       detail=str(exc))

        def tx(conn: Connection) -> None:
            self._require_community(conn, community_id)
            ws = WorkSet(conn, self.store.dialect, community_id, self.now_us())
            stored = idempotency.lookup_many(conn, community_id,
                                             [p[1].idempotency_key for p in prepared])
            ws.load(a for _, req, header, _ in prepared for a in self._spend_accounts(req))
            seen: dict[str, tuple[str, str]] = {}  # keys claimed earlier in this batch
            for i, req, header, req_hash in prepared:
                key = req.idempotency_key
                try:
                    earlier = seen.get(key)
                    replay = idempotency.check_replay(
                        idempotency.Stored("spend", *earlier) if earlier else stored.get(key),
                        key, "spend", req_hash)
                    if replay is not None:
                        res = TransferResult.model_validate_json(replay).model_copy(
                            update={"replayed": True})
                        results[i] = trusted(BatchItem, {"index": i, "status": "ok",
                                                         "detail": "", "result": res})
                        continue
                    res = self._spend_in_batch(ws, header, req)
                    body = res.model_dump_json()
                    ws.remember_key(key, "spend", req_hash, body)
                    seen[key] = (req_hash, body)
                    results[i] = trusted(BatchItem, {"index": i, "status": "ok", "detail": "",
                                                     "result": res})
                except Declined as d:
                    results[i] = BatchItem(index=i, status=d.status.value, detail=d.detail)
                except JetonError as exc:
                    results[i] = BatchItem(index=i, status=exc.status.value, detail=exc.detail)
            self._run_hooks(ws)
            ws.flush()

        self.store.run_write(tx)
        return [r for r in results if r is not None]

    def _spend_in_batch(self, ws: WorkSet, header: Header, req: SpendRequest) -> TransferResult:
        """`apply_spend` of one batch item. A plain spend (no splits; its wallet, lots and the
        revenue account already loaded) is paid without a draft: the same rows, cheaper."""
        if not req.splits:
            wallet = ws.loaded(wallet_id(req.member, req.asset))
            revenue = ws.accounts.get(system_id("revenue", req.asset))
            if wallet is not None and revenue is not None:
                plan = self._plan_or_release(ws, wallet, req.amount, req.service)
                return ws.pay(header, wallet, req.amount, plan, revenue)
        return self.apply_spend(ws, header, req, None)

    def apply_spend(self, ws: WorkSet, header: Header, req: SpendRequest,
                    to_account: str | None) -> TransferResult:
        asset = req.asset
        revenue = system_id(to_account or "revenue", asset)
        wallet = ws.loaded(wallet_id(req.member, asset))
        if wallet is None or req.splits or revenue not in ws.accounts:
            ws.load([*self._spend_accounts(req), revenue])
            wallet = self._wallet(ws, req.member, asset)
            if revenue not in ws.accounts:
                self._missing_system_account(ws, asset, revenue)
        plan = self._plan_or_release(ws, wallet, req.amount, req.service)
        targets: list[tuple[Acct, int]] = []
        for split in req.splits:
            target = (ws.ensure_wallet(split.member, asset) if split.member
                      else ws.account(system_id(split.account or "", asset)))
            if target.account_id == wallet.account_id:
                raise Declined(Status.split_invalid, "a split cannot pay the payer")
            targets.append((target, split.amount))
        draft = TransferDraft(header.kind, asset)
        ws.draw(draft, wallet, req.amount, plan)
        rest = req.amount
        for target, part in targets:
            if target.kind == "wallet":
                ws.credit(draft, target, part, LotSpec(source="royalty"))
            else:
                draft.add(target.account_id, part)
            rest -= part
        if rest:
            draft.add(revenue, rest)
        return ws.commit_transfer(header, draft, wallet)

    def transfer(self, community_id: str, from_member: str, to_member: str, amount: int, *,
                 idempotency_key: str, asset: str = "CREDIT", fee: int = 0,
                 actor: str = "system", reason_code: str = "transfer", memo: str = "",
                 metadata: dict[str, Any] | None = None) -> TransferResult:
        """Credits from one member to another. The lots travel: paid stays paid (with its
        share of cost basis), expiring credits keep their expiry. A fee goes to revenue."""
        amount = amounts.positive_amount(amount)
        fee = amounts.whole_amount(fee, "fee")
        if fee < 0:
            raise InvalidRequest("fee must not be negative", status=Status.amount_invalid)
        key = amounts.idempotency_key(idempotency_key)
        if from_member == to_member:
            raise InvalidRequest("a member cannot transfer to themself", status=Status.same_account)
        header = Header(TransferKind.transfer, amounts.asset_code(asset), member_id=from_member,
                        actor=actor, reason_code=_text(reason_code, "reason code", 64),
                        memo=_text(memo, "memo", limits.memo_chars_max),
                        metadata={**_meta(metadata), "to_member": to_member},
                        idempotency_key=key)
        request = {"from": from_member, "to": to_member, "amount": amount, "fee": fee,
                   "asset": asset, "memo": memo, "metadata": header.metadata}

        def body(ws: WorkSet) -> TransferResult:
            ws.load([wallet_id(from_member, asset), wallet_id(to_member, asset)])
            sender = self._wallet(ws, from_member, asset)
            receiver = ws.ensure_wallet(to_member, asset)
            core = [lot.core() for lot in ws.wallet_lots(sender.account_id)]
            plan = lotlib.plan_draw(core, amount + fee, None, ws.now_us)
            if plan.shortfall:  # transfers move only credits the member has, never a credit line
                have = plan.covered
                raise Declined(Status.insufficient_credits,
                               f"member {from_member!r} has {have} {asset} to transfer, "
                               f"{amount + fee} required", balance=have, required=amount + fee)
            draft = TransferDraft(header.kind, asset)
            carried = _take_front(plan.draws, amount)
            specs = [(ws.lots[lot_id], take) for lot_id, take in carried]
            ws.draw(draft, sender, amount + fee, plan)
            for lot, take in specs:
                cost = lot.cost_minor * take // lot.amount if lot.amount else 0
                ws.credit(draft, receiver, take, LotSpec(
                    source="transfer", paid=lot.paid, cost_minor=cost,
                    cost_currency=lot.cost_currency, expires_at_us=lot.expires_at_us,
                    scope=lot.scope))
            if fee:
                revenue = system_id("revenue", asset)
                ws.load([revenue], with_lots=False)
                draft.add(revenue, fee)
            return ws.commit_transfer(header, draft, sender)

        return self.write_once(community_id, key, "transfer", request, body, TransferResult)

    # ---- holds ----

    def hold(self, community_id: str, member_id: str, amount: int, *, idempotency_key: str,
             asset: str = "CREDIT", service: str | None = None,
             timeout_s: int = limits.hold_timeout_s_default, actor: str = "system",
             metadata: dict[str, Any] | None = None) -> HoldResult:
        """Set credits aside for metered use; they count against the available balance now."""
        amount = amounts.positive_amount(amount)
        key = amounts.idempotency_key(idempotency_key)
        if type(timeout_s) is not int or not 1 <= timeout_s <= limits.hold_timeout_s_max:
            raise InvalidRequest(f"timeout_s must be 1-{limits.hold_timeout_s_max}",
                                 status=Status.value_invalid)
        if service is not None:
            amounts.service_code(service)
        meta = _meta(metadata)
        request = {"member": member_id, "amount": amount, "asset": asset, "service": service,
                   "timeout_s": timeout_s, "metadata": meta}

        def body(ws: WorkSet) -> HoldResult:
            wallet = self._wallet(ws, member_id, asset)
            core = [lot.core() for lot in ws.wallet_lots(wallet.account_id)]
            plan = lotlib.plan_draw(core, amount, service, ws.now_us)
            if plan.shortfall and self._release_expired_holds(ws, wallet):
                core = [lot.core() for lot in ws.wallet_lots(wallet.account_id)]
                plan = lotlib.plan_draw(core, amount, service, ws.now_us)
            if plan.shortfall:
                raise Declined(Status.insufficient_credits,
                               f"member {member_id!r} has {plan.covered} {asset} available, "
                               f"{amount} required", balance=plan.covered, required=amount)
            hold_id = new_id()
            expires_us = ws.now_us + timeout_s * 1_000_000
            moves = []
            for seq, (lot_id, take) in enumerate(plan.draws):
                lot = ws.lots[lot_id]
                lot.remaining -= take
                lot.dirty = True
                ws.hold_lot_inserts.append({
                    "community_id": community_id, "hold_id": hold_id, "lot_id": lot_id,
                    "seq": seq, "reserved": take, "used": 0, "released": 0})
                moves.append(LotMoveInfo(lot_id=lot_id, account_id=wallet.account_id,
                                         amount=-take))
            wallet.pending += amount
            wallet.dirty = True
            ws.hold_inserts.append({
                "community_id": community_id, "hold_id": hold_id,
                "account_id": wallet.account_id, "member_id": member_id, "asset": asset,
                "amount": amount, "captured": 0, "voided": 0, "status": "active",
                "service": service, "metadata_json": json.dumps(meta),
                "expires_at_us": expires_us, "created_at_us": ws.now_us, "settled_at_us": None})
            return HoldResult(id=hold_id, member_id=member_id, asset=asset, amount=amount,
                              captured=0, voided=0, status="active", service=service,
                              expires_at=from_us(expires_us), created_at=from_us(ws.now_us),
                              lots=moves)

        return self.write_once(community_id, key, "hold", request, body, HoldResult)

    def capture(self, community_id: str, hold_id: str, amount: int, *, idempotency_key: str,
                final: bool = True, splits: Sequence[Split | dict[str, Any]] = (),
                to_account: str | None = None, actor: str = "system",
                reason_code: str = "capture", memo: str = "",
                metadata: dict[str, Any] | None = None) -> HoldResult:
        """Spend part (or all) of a hold. With `final` (the default) the rest is released."""
        amount = amounts.positive_amount(amount)
        key = amounts.idempotency_key(idempotency_key)
        split_list = [_split(s) for s in splits]
        meta = _meta(metadata)
        request = {"hold": hold_id, "amount": amount, "final": final,
                   "splits": [s.model_dump() for s in split_list], "to": to_account,
                   "memo": memo, "metadata": meta}

        def body(ws: WorkSet) -> HoldResult:
            hold, wallet = self._lock_hold(ws, hold_id)
            if hold["status"] != "active":
                raise Declined(Status.hold_not_active, f"hold {hold_id} is {hold['status']}")
            if hold["expires_at_us"] <= ws.now_us:
                raise Declined(Status.hold_expired, f"hold {hold_id} has expired")
            open_amount = hold["amount"] - hold["captured"] - hold["voided"]
            if amount > open_amount:
                raise Declined(Status.capture_exceeds_hold,
                               f"capture of {amount} exceeds the {open_amount} left on the hold",
                               required=amount, balance=open_amount)
            if sum(s.amount for s in split_list) > amount:
                raise Declined(Status.split_invalid, "splits exceed the amount captured")
            header = Header(TransferKind.capture, hold["asset"], member_id=hold["member_id"],
                            service=hold["service"], hold_id=hold_id, actor=actor,
                            reason_code=reason_code, memo=memo, metadata=meta,
                            idempotency_key=key)
            revenue = system_id(to_account or "revenue", hold["asset"])
            # Named accounts of the splits (an app-store fee) are read with revenue.
            ws.load([revenue, *(system_id(s.account, hold["asset"]) for s in split_list
                                if s.account)], with_lots=False)
            if revenue not in ws.accounts:
                self._missing_system_account(ws, hold["asset"], revenue)
            draft = TransferDraft(header.kind, hold["asset"])
            left = amount
            for hl in self._hold_lots(ws, hold_id):
                free = hl["reserved"] - hl["used"] - hl["released"]
                take = min(free, left)
                if take:
                    hl["used"] += take
                    ws.hold_lot_updates[(hold_id, hl["lot_id"])] = _hold_lot_update(ws, hl)
                    draft.move_lot(wallet.account_id, hl["lot_id"], -take)
                    left -= take
            draft.add(wallet.account_id, -amount)
            rest = amount
            for split in split_list:
                target = (ws.ensure_wallet(split.member, hold["asset"]) if split.member
                          else ws.account(system_id(split.account or "", hold["asset"])))
                if target.kind == "wallet":
                    ws.credit(draft, target, split.amount, LotSpec(source="royalty"))
                else:
                    draft.add(target.account_id, split.amount)
                rest -= split.amount
            if rest:
                draft.add(revenue, rest)
            wallet.pending -= amount
            wallet.dirty = True
            hold["captured"] += amount
            if final:
                self._release_hold(ws, hold, wallet, "captured")
            elif hold["captured"] + hold["voided"] == hold["amount"]:
                hold["status"] = "captured"
                hold["settled_at_us"] = ws.now_us
            ws.hold_updates[hold_id] = _hold_update(ws, hold)
            result = ws.commit_transfer(header, draft, wallet)
            return _hold_result(hold, transfer=result)

        return self.write_once(community_id, key, "capture", request, body, HoldResult)

    def void(self, community_id: str, hold_id: str, *, idempotency_key: str,
             actor: str = "system") -> HoldResult:
        """Release what is left of a hold back to the lots it came from."""
        key = amounts.idempotency_key(idempotency_key)

        def body(ws: WorkSet) -> HoldResult:
            hold, wallet = self._lock_hold(ws, hold_id)
            if hold["status"] != "active":
                raise Declined(Status.hold_not_active, f"hold {hold_id} is {hold['status']}")
            self._release_hold(ws, hold, wallet, "voided")
            ws.hold_updates[hold_id] = _hold_update(ws, hold)
            return _hold_result(hold)

        return self.write_once(community_id, key, "void", {"hold": hold_id}, body, HoldResult)

    def get_hold(self, community_id: str, hold_id: str) -> HoldResult:
        with self.store.read() as conn:
            row = conn.execute(sa.select(holds).where(
                holds.c.community_id == community_id,
                holds.c.hold_id == hold_id)).mappings().first()
        if row is None:
            raise NotFound(f"no hold {hold_id!r}", status=Status.hold_not_found)
        return _hold_result(dict(row))

    # ---- reversal ----

    def reverse(self, community_id: str, transfer_id: str, *, idempotency_key: str,
                actor: str = "system", reason_code: str = "reversal",
                memo: str = "") -> TransferResult:
        """The exact opposite of an earlier transfer: every posting negated, every lot it drew
        from given back (with its expiry and paid/free status), every lot it filled emptied."""
        key = amounts.idempotency_key(idempotency_key)
        request = {"transfer": transfer_id, "reason": reason_code, "memo": memo}

        def body(ws: WorkSet) -> TransferResult:
            conn = ws.conn
            original = conn.execute(sa.select(transfers.c.kind, transfers.c.asset,
                                              transfers.c.member_id, transfers.c.service).where(
                transfers.c.community_id == community_id,
                transfers.c.transfer_id == transfer_id)).first()
            if original is None:
                raise Declined(Status.transfer_not_found, f"no transfer {transfer_id!r}")
            kind, asset, member_id, service = original
            if kind not in _REVERSIBLE:
                raise Declined(Status.not_reversible, f"a {kind} transfer cannot be reversed")
            done = conn.execute(sa.select(transfers.c.transfer_id).where(
                transfers.c.community_id == community_id,
                transfers.c.reverses_id == transfer_id)).first()
            if done is not None:
                raise Declined(Status.already_reversed,
                               f"transfer {transfer_id} was already reversed by {done[0]}")
            legs = conn.execute(sa.select(postings.c.account_id, postings.c.amount).where(
                postings.c.community_id == community_id,
                postings.c.transfer_id == transfer_id)).all()
            moves = conn.execute(sa.select(posting_lots.c.account_id, posting_lots.c.lot_id,
                                           posting_lots.c.amount).where(
                posting_lots.c.community_id == community_id,
                posting_lots.c.transfer_id == transfer_id)).all()
            ws.load(a for a, _ in legs)
            for account_id, lot_id, moved in moves:
                if moved > 0:
                    lot = ws.lot(lot_id)
                    have = lot.remaining
                    if have < moved and lot.source != lotlib.OVERDRAFT:
                        raise Declined(Status.reversal_insufficient,
                                       f"{moved - have} of the credits this transfer gave "
                                       f"{account_id} have been spent", required=moved,
                                       balance=have)
            header = Header(TransferKind.reversal, asset, member_id=member_id, service=service,
                            reverses_id=transfer_id, actor=actor, reason_code=reason_code,
                            memo=memo, idempotency_key=key)
            draft = TransferDraft(header.kind, asset)
            for account_id, lot_id, moved in moves:
                ws.restore(draft, account_id, lot_id, -moved)
            for account_id, moved in legs:
                draft.add(account_id, -moved)
            primary = ws.accounts.get(wallet_id(member_id, asset)) if member_id else None
            return ws.commit_transfer(header, draft, primary)

        try:
            return self.write_once(community_id, key, "reverse", request, body, TransferResult)
        except Exception as exc:  # a concurrent reversal of the same transfer won
            if is_unique_violation(exc, "reverses"):
                raise Conflict(f"transfer {transfer_id} was already reversed",
                               status=Status.already_reversed) from None
            raise

    # ---- jobs ----

    def expire_lots(self, community_id: str) -> int:
        """Move what is left of every expired lot to breakage. Returns the lots expired."""
        now = self.now_us()
        total = 0
        while True:
            def tx(conn: Connection) -> int:
                due = conn.execute(sa.select(lots.c.lot_id, lots.c.account_id).where(
                    lots.c.community_id == community_id, lots.c.remaining > 0,
                    lots.c.expires_at_us.is_not(None), lots.c.expires_at_us <= now,
                ).order_by(lots.c.expires_at_us).limit(limits.job_batch_size)).all()
                if not due:
                    return 0
                ws = WorkSet(conn, self.store.dialect, community_id, now)
                by_account: dict[str, list[str]] = {}
                for lot_id, account_id in due:
                    by_account.setdefault(account_id, []).append(lot_id)
                ws.load(by_account)
                assets_seen = {ws.accounts[a].asset for a in by_account}
                ws.load([system_id("breakage", a) for a in assets_seen], with_lots=False)
                count = 0
                for account_id, lot_ids in sorted(by_account.items()):
                    wallet = ws.accounts[account_id]
                    draft = TransferDraft(TransferKind.expiry, wallet.asset)
                    expired = []
                    for lot_id in lot_ids:
                        lot = ws.lots[lot_id]
                        if lot.remaining <= 0:
                            continue
                        expired.append({"lot_id": lot_id, "amount": lot.remaining,
                                        "expired_at": from_us(lot.expires_at_us or now)})
                        draft.move_lot(account_id, lot_id, -lot.remaining)
                        draft.add(account_id, -lot.remaining)
                        draft.add(system_id("breakage", wallet.asset), lot.remaining)
                        lot.remaining = 0
                        lot.dirty = True
                        count += 1
                    if not expired:
                        continue
                    header = Header(TransferKind.expiry, wallet.asset, member_id=wallet.member_id,
                                    actor="system:expiry", reason_code="expiry")
                    result = ws.commit_transfer(header, draft, wallet)
                    ws.emit("credits.expired", wallet.member_id, {
                        "member_id": wallet.member_id, "asset": wallet.asset,
                        "amount": result.amount, "lots": expired, "transfer_id": result.id})
                self._run_hooks(ws)
                ws.flush()
                return count

            done = self.store.run_write(tx)
            total += done
            if done == 0:
                return total

    def expire_holds(self, community_id: str) -> int:
        """Release holds whose timeout has passed. Returns the holds expired."""
        now = self.now_us()

        def tx(conn: Connection) -> int:
            due = conn.execute(sa.select(holds.c.hold_id).where(
                holds.c.community_id == community_id, holds.c.status == "active",
                holds.c.expires_at_us <= now).limit(limits.job_batch_size)).all()
            ws = WorkSet(conn, self.store.dialect, community_id, now)
            count = 0
            for (hold_id,) in due:
                hold, wallet = self._lock_hold(ws, hold_id)
                if hold["status"] != "active":
                    continue
                self._release_hold(ws, hold, wallet, "expired")
                ws.hold_updates[hold_id] = _hold_update(ws, hold)
                count += 1
            ws.flush()
            return count

        total = 0
        while (done := self.store.run_write(tx)):
            total += done
        return total

    # ---- reads ----

    def balance(self, community_id: str, member_id: str, asset: str = "CREDIT") -> Balance:
        """Posted, pending (held) and available credits. Expired lots the job has not yet moved
        to breakage are not available."""
        aid = wallet_id(member_id, asset)
        now = self.now_us()
        with self.store.read() as conn:
            row = conn.execute(sa.select(accounts.c.posted, accounts.c.pending, accounts.c.floor)
                               .where(accounts.c.community_id == community_id,
                                      accounts.c.account_id == aid)).first()
            if row is None:
                self._require_member(conn, community_id, member_id)
                return Balance(member_id=member_id, account_id=aid, asset=asset, posted=0,
                               pending=0, available=0)
            posted, pending, floor = row
            stale = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(lots.c.remaining), 0))
                                 .where(lots.c.community_id == community_id,
                                        lots.c.account_id == aid, lots.c.remaining > 0,
                                        lots.c.expires_at_us.is_not(None),
                                        lots.c.expires_at_us <= now)).scalar_one()
        available = posted - pending - int(stale) - (floor or 0)
        return Balance(member_id=member_id, account_id=aid, asset=asset, posted=posted,
                       pending=pending, available=available)

    def account_balance(self, community_id: str, account_id: str) -> Balance:
        """Any account's balance. Untracked accounts: the checkpoint plus postings since."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(accounts.c.tracked, accounts.c.posted,
                                         accounts.c.pending, accounts.c.asset,
                                         accounts.c.member_id).where(
                accounts.c.community_id == community_id,
                accounts.c.account_id == account_id)).first()
            if row is None:
                raise NotFound(f"no account {account_id!r}", status=Status.account_not_found)
            tracked, posted, pending, asset, member_id = row
            if not tracked:
                from jeton.services.journal import untracked_balance

                posted = untracked_balance(conn, community_id, account_id)
        return Balance(member_id=member_id, account_id=account_id, asset=asset, posted=posted,
                       pending=pending, available=posted - pending)

    def lots(self, community_id: str, member_id: str, asset: str = "CREDIT", *,
             include_empty: bool = False) -> list[LotInfo]:
        """The member's lots in the order they would be spent (unscoped spend order)."""
        aid = wallet_id(member_id, asset)
        stmt = sa.select(lots).where(lots.c.community_id == community_id,
                                     lots.c.account_id == aid)
        if not include_empty:
            stmt = stmt.where(lots.c.remaining != 0)
        with self.store.read() as conn:
            rows = conn.execute(stmt).mappings().all()
            if not rows:
                self._require_member(conn, community_id, member_id)
        infos = [_lot_info(r) for r in rows]
        order = {lot.id: lotlib.spend_order_key(lot, None) for lot in (
            lotlib.Lot(r["lot_id"], r["remaining"], r["paid"], r["expires_at_us"], r["priority"],
                       r["scope"], r["source"]) for r in rows)}
        return sorted(infos, key=lambda info: order[info.id])

    def statement(self, community_id: str, member_id: str, asset: str = "CREDIT", *,
                  limit: int = limits.page_size_default,
                  starting_after: str | None = None) -> Page[StatementLine]:
        """Every posting on the member's wallet with the balance after it, newest first."""
        return self.account_statement(community_id, wallet_id(member_id, asset), limit=limit,
                                      starting_after=starting_after, member_id=member_id)

    def account_statement(self, community_id: str, account_id: str, *,
                          limit: int = limits.page_size_default,
                          starting_after: str | None = None,
                          member_id: str | None = None) -> Page[StatementLine]:
        limit = _page_limit(limit)
        p, t = postings.c, transfers.c
        stmt = (sa.select(p.transfer_id, t.kind, p.amount, p.balance_after, t.service, t.memo,
                          t.reason_code, t.actor, t.effective_at_us, p.account_version)
                .join(transfers, sa.and_(t.community_id == p.community_id,
                                         t.transfer_id == p.transfer_id))
                .where(p.community_id == community_id, p.account_id == account_id))
        if starting_after:
            stmt = stmt.where(p.transfer_id < starting_after)
        stmt = stmt.order_by(p.transfer_id.desc()).limit(limit + 1)
        with self.store.read() as conn:
            rows = conn.execute(stmt).all()
            if not rows and member_id is not None:
                self._require_member(conn, community_id, member_id)
        data = [StatementLine(transfer_id=r[0], kind=r[1], amount=r[2], balance_after=r[3],
                              service=r[4], memo=r[5], reason_code=r[6], actor=r[7],
                              effective_at=from_us(r[8]), version=r[9]) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(data=data, has_more=more, next_cursor=data[-1].transfer_id if more else None)

    def get_transfer(self, community_id: str, transfer_id: str) -> TransferResult:
        with self.store.read() as conn:
            return read_transfer(conn, community_id, transfer_id)

    def preview_debit(self, community_id: str, member_id: str, amount: int, *,
                      asset: str = "CREDIT", service: str | None = None,
                      ) -> tuple[list[LotMoveInfo], int]:
        """Which lots would pay `amount` now, and what is available. Writes nothing."""
        with self.store.read() as conn:
            ws = WorkSet(conn, "read", community_id, self.now_us())
            ws.load([wallet_id(member_id, asset)])
            acct = ws.accounts.get(wallet_id(member_id, asset))
            if acct is None:
                self._require_member(conn, community_id, member_id)
                return [], 0
            core = [lot.core() for lot in ws.wallet_lots(acct.account_id)]
            plan = lotlib.plan_draw(core, amount, service, ws.now_us)
            available = lotlib.available_from_lots(core, service, ws.now_us)
            owed = ws.overdraft_lot(acct.account_id)
            available += (owed.remaining if owed else 0) - (acct.floor or 0)
        return ([LotMoveInfo(lot_id=lot_id, account_id=acct.account_id, amount=-take)
                 for lot_id, take in plan.draws], available)

    # ---- internals ----

    def write_once(self, community_id: str, key: str, operation: str,
                   request: dict[str, Any], body: Callable[[WorkSet], R], result_type: type[R],
                   *, now_us: int | None = None) -> R:
        """Run `body` once per idempotency key: one transaction that claims the key, builds the
        write on a WorkSet, runs the hooks and flushes. A replay returns the stored answer; a
        request racing another with the same key is retried and finds that answer. Every
        service that writes to the ledger (charging, funding) goes through here."""
        req_hash = idempotency.request_hash(operation, request)

        def tx(conn: Connection) -> R:
            self._require_community(conn, community_id)
            replay = idempotency.lookup_one(conn, community_id, key, operation, req_hash)
            if replay is not None:
                return result_type.model_validate_json(replay).model_copy(
                    update={"replayed": True})
            ws = WorkSet(conn, self.store.dialect, community_id,
                         self.now_us() if now_us is None else now_us)
            try:
                result = body(ws)
            except Declined as d:
                raise d.error() from None
            ws.remember_key(key, operation, req_hash, result.model_dump_json())
            self._run_hooks(ws)
            ws.flush()
            return result

        for attempt in range(2):
            try:
                return self.store.run_write(tx)
            except Exception as exc:  # wrapped by SQLAlchemy, or raw from the hot path
                if attempt == 0 and is_unique_violation(exc, "idempotency_keys"):
                    continue
                raise
        raise AssertionError("unreachable")

    def _write_plain(self, fn: Callable[[Connection], None]) -> None:
        def tx(conn: Connection) -> None:
            try:
                fn(conn)
            except Declined as d:
                raise d.error() from None

        self.store.run_write(tx)

    def _run_hooks(self, ws: WorkSet) -> None:
        if ws.results:
            for hook in self.hooks:
                hook(ws, ws.results)

    def _check_spend(self, req: SpendRequest) -> None:
        amounts.positive_amount(req.amount)
        amounts.idempotency_key(req.idempotency_key)
        amounts.asset_code(req.asset)
        if req.service is not None:
            amounts.service_code(req.service)
        if len(req.splits) > limits.transfer_legs_max - 2:
            raise InvalidRequest("too many splits", status=Status.split_invalid)
        total = 0
        for s in req.splits:
            amounts.positive_amount(s.amount, "split amount")
            if (s.member is None) == (s.account is None):
                raise InvalidRequest("a split names either a member or an account",
                                     status=Status.split_invalid)
            total += s.amount
        if total > req.amount:
            raise InvalidRequest(f"splits ({total}) exceed the amount ({req.amount})",
                                 status=Status.split_invalid)
        _text(req.memo, "memo", limits.memo_chars_max)
        _text(req.reason_code, "reason code", limits.reason_code_chars_max)
        _meta(req.metadata)

    def _spend_header(self, req: SpendRequest, actor: str,
                      to_account: str | None) -> tuple[Header, dict[str, Any]]:
        """The transfer's header, and the request its idempotency key is bound to."""
        return _spend_transfer_header(req, actor), _spend_request(req, to_account)

    def _spend_accounts(self, req: SpendRequest) -> list[str]:
        ids = [wallet_id(req.member, req.asset), system_id("revenue", req.asset)]
        for s in req.splits:
            ids.append(wallet_id(s.member, req.asset) if s.member
                       else system_id(s.account or "", req.asset))
        return ids

    def _wallet(self, ws: WorkSet, member_id: str, asset: str) -> Acct:
        aid = wallet_id(member_id, asset)
        ws.load([aid])
        acct = ws.accounts.get(aid)
        if acct is None:
            if ws.conn.execute(sa.select(members.c.member_id).where(
                    members.c.community_id == ws.community_id,
                    members.c.member_id == member_id)).first() is None:
                raise Declined(Status.member_not_found, f"no member {member_id!r}")
            self._require_asset(ws.conn, ws.community_id, asset)
            return ws.ensure_wallet(member_id, asset)
        return acct

    def _plan_or_release(self, ws: WorkSet, wallet: Acct, amount: int,
                         service: str | None) -> lotlib.DrawPlan:
        try:
            return ws.plan_debit(wallet, amount, service)
        except Declined:
            # Holds past their timeout still set credits aside until the job runs; release
            # them now rather than decline a member whose credits are really there.
            if not self._release_expired_holds(ws, wallet):
                raise
            return ws.plan_debit(wallet, amount, service)

    def _release_expired_holds(self, ws: WorkSet, wallet: Acct) -> bool:
        due = ws.conn.execute(sa.select(holds.c.hold_id).where(
            holds.c.community_id == ws.community_id, holds.c.account_id == wallet.account_id,
            holds.c.status == "active", holds.c.expires_at_us <= ws.now_us)).all()
        for (hold_id,) in due:
            hold, _ = self._lock_hold(ws, hold_id)
            self._release_hold(ws, hold, wallet, "expired")
            ws.hold_updates[hold_id] = _hold_update(ws, hold)
        return bool(due)

    def _lock_hold(self, ws: WorkSet, hold_id: str) -> tuple[dict[str, Any], Acct]:
        cached = ws.hold_rows
        if hold_id in cached:
            hold = cached[hold_id]
            return hold, ws.accounts[hold["account_id"]]
        row = ws.conn.execute(sa.select(holds.c.account_id).where(
            holds.c.community_id == ws.community_id, holds.c.hold_id == hold_id)).first()
        if row is None:
            raise Declined(Status.hold_not_found, f"no hold {hold_id!r}")
        ws.load([row[0]])  # the wallet's lock guards its holds
        stmt = sa.select(holds).where(holds.c.community_id == ws.community_id,
                                      holds.c.hold_id == hold_id)
        hold = dict(ws.conn.execute(for_update(stmt, ws.dialect)).mappings().one())
        cached[hold_id] = hold
        return hold, ws.accounts[hold["account_id"]]

    def _hold_lots(self, ws: WorkSet, hold_id: str) -> list[dict[str, Any]]:
        cache = ws.hold_lot_rows
        if hold_id not in cache:
            rows = ws.conn.execute(sa.select(hold_lots).where(
                hold_lots.c.community_id == ws.community_id,
                hold_lots.c.hold_id == hold_id).order_by(hold_lots.c.seq)).mappings().all()
            cache[hold_id] = [dict(r) for r in rows]
        result: list[dict[str, Any]] = cache[hold_id]
        return result

    def _release_hold(self, ws: WorkSet, hold: dict[str, Any], wallet: Acct, status: str) -> None:
        """Give the unused part of a hold back to its lots and close it."""
        rest = hold["amount"] - hold["captured"] - hold["voided"]
        for hl in self._hold_lots(ws, hold["hold_id"]):
            free = hl["reserved"] - hl["used"] - hl["released"]
            if free:
                hl["released"] += free
                ws.hold_lot_updates[(hold["hold_id"], hl["lot_id"])] = _hold_lot_update(ws, hl)
                lot = ws.lot(hl["lot_id"])
                lot.remaining += free
                lot.dirty = True
        hold["voided"] += rest
        hold["status"] = status
        hold["settled_at_us"] = ws.now_us
        wallet.pending -= rest
        wallet.dirty = True

    def _lot_spec(self, source: str, paid: bool, cost_minor: int, cost_currency: str | None,
                  expires_at: datetime | None, priority: int, scope: str | None) -> LotSpec:
        if not isinstance(source, str) or not 1 <= len(source) <= 32 or source == lotlib.OVERDRAFT:
            raise InvalidRequest("source must be a short word (not 'overdraft')",
                                 status=Status.value_invalid)
        cost = amounts.whole_amount(cost_minor, "cost_minor")
        if cost_currency is not None and (not isinstance(cost_currency, str)
                                          or not 1 <= len(cost_currency) <= 16):
            raise InvalidRequest("cost_currency must be a currency code of 1-16 characters",
                                 status=Status.value_invalid)
        if cost < 0 or (cost and not paid):
            raise InvalidRequest("only paid credits carry a cost, and it is not negative",
                                 status=Status.amount_invalid)
        expires_us = None
        if expires_at is not None:
            if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
                raise InvalidRequest("expires_at must be a timezone-aware datetime",
                                     status=Status.expiry_invalid)
            expires_us = to_us(expires_at)
            now = self.now_us()
            # "Not in the future" is checked inside the write, after the idempotency lookup:
            # a replay of yesterday's grant must answer as it did, not fail on today's clock.
            if expires_at - from_us(now) > timedelta(days=limits.lot_expiry_days_max):
                raise InvalidRequest("expires_at is too far in the future",
                                     status=Status.expiry_invalid)
        if type(priority) is not int or not -1000 <= priority <= 1000:
            raise InvalidRequest("priority must be an integer -1000..1000",
                                 status=Status.value_invalid)
        if scope is not None:
            amounts.service_code(scope)
        if type(paid) is not bool:
            raise InvalidRequest("paid must be true or false", status=Status.value_invalid)
        return LotSpec(source=source, paid=paid, cost_minor=cost, cost_currency=cost_currency,
                       expires_at_us=expires_us, priority=priority, scope=scope)

    def _require_community(self, conn: Connection, community_id: str) -> None:
        if community_id in self._known_communities:
            return
        found = conn.execute(sa.select(communities.c.community_id).where(
            communities.c.community_id == community_id)).first()
        if found is None:
            raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
        self._known_communities.add(community_id)

    def _require_member(self, conn: Connection, community_id: str, member_id: str) -> None:
        found = conn.execute(sa.select(members.c.member_id).where(
            members.c.community_id == community_id, members.c.member_id == member_id)).first()
        if found is None:
            raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)

    def _require_asset(self, conn: Connection, community_id: str, asset: str) -> None:
        found = conn.execute(sa.select(assets.c.code).where(
            assets.c.community_id == community_id, assets.c.code == asset)).first()
        if found is None:
            raise Declined(Status.asset_not_found, f"no asset {asset!r} in this community")

    def _missing_system_account(self, ws: WorkSet, asset: str, account_id: str) -> None:
        self._require_asset(ws.conn, ws.community_id, asset)
        raise Declined(Status.account_not_found, f"no account {account_id!r}")


# ---- helpers ----

def _spend_transfer_header(req: SpendRequest, actor: str) -> Header:
    return Header(TransferKind.spend, req.asset, member_id=req.member, service=req.service,
                  actor=actor, reason_code=req.reason_code, memo=req.memo,
                  metadata=req.metadata, idempotency_key=req.idempotency_key)


def _spend_request(req: SpendRequest, to_account: str | None) -> dict[str, Any]:
    """What a spend's idempotency key is bound to: the request's fields but the key (what
    `req.model_dump` gives, read off the fields), and the account paid."""
    return {
        "member": req.member, "amount": req.amount, "asset": req.asset, "service": req.service,
        "splits": [{"amount": s.amount, "member": s.member, "account": s.account}
                   for s in req.splits],
        "memo": req.memo, "reason_code": req.reason_code,
        # Metadata may hold models or other objects: their dump is what the hash covers.
        "metadata": req.model_dump(include={"metadata"})["metadata"] if req.metadata else {},
        "to": to_account}


_JSON_STR = json.encoder.encode_basestring_ascii  # a str as `json.dumps` writes it


def _spend_request_hash(req: SpendRequest) -> str:
    """`request_hash("spend", _spend_request(req, None))` of a checked request.

    A spend without splits or metadata (most of a batch) has its canonical JSON written out
    here, byte for byte what `json.dumps` makes of the dict (keys sorted, no spaces, ASCII),
    without building the dict and walking it.
    """
    if req.splits or req.metadata or req.member.__class__ is not str:
        return idempotency.request_hash("spend", _spend_request(req, None))
    service = "null" if req.service is None else _JSON_STR(req.service)
    raw = (f'["spend",{{"amount":{int.__repr__(req.amount)},"asset":{_JSON_STR(req.asset)},'
           f'"member":{_JSON_STR(req.member)},"memo":{_JSON_STR(req.memo)},"metadata":{{}},'
           f'"reason_code":{_JSON_STR(req.reason_code)},"service":{service},"splits":[],'
           f'"to":null}}]')
    return idempotency.digest(raw)


def _split(value: Split | dict[str, Any]) -> Split:
    return value if isinstance(value, Split) else Split.model_validate(value)


def _take_front(draws: list[tuple[str, int]], amount: int) -> list[tuple[str, int]]:
    """The first `amount` of a draw plan (the rest pays the fee)."""
    out = []
    left = amount
    for lot_id, take in draws:
        if left == 0:
            break
        part = min(take, left)
        out.append((lot_id, part))
        left -= part
    return out


def _page_limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
        raise InvalidRequest(f"limit must be 1-{limits.page_size_max}", status=Status.value_invalid)
    return limit


def _hold_update(ws: WorkSet, hold: dict[str, Any]) -> dict[str, Any]:
    return {"b_community": ws.community_id, "b_hold": hold["hold_id"],
            "captured": hold["captured"], "voided": hold["voided"], "status": hold["status"],
            "settled_at_us": hold["settled_at_us"]}


def _hold_lot_update(ws: WorkSet, hl: dict[str, Any]) -> dict[str, Any]:
    return {"b_community": ws.community_id, "b_hold": hl["hold_id"], "b_lot": hl["lot_id"],
            "used": hl["used"], "released": hl["released"]}


def _hold_result(hold: dict[str, Any], transfer: TransferResult | None = None) -> HoldResult:
    return HoldResult(id=hold["hold_id"], member_id=hold["member_id"], asset=hold["asset"],
                      amount=hold["amount"], captured=hold["captured"], voided=hold["voided"],
                      status=hold["status"], service=hold["service"],
                      expires_at=from_us(hold["expires_at_us"]),
                      created_at=from_us(hold["created_at_us"]), transfer=transfer)


def _lot_info(r: Any) -> LotInfo:
    return LotInfo(id=r["lot_id"], source=r["source"], paid=r["paid"], amount=r["amount"],
                   remaining=r["remaining"], cost_minor=r["cost_minor"],
                   cost_currency=r["cost_currency"],
                   expires_at=from_us(r["expires_at_us"]) if r["expires_at_us"] else None,
                   priority=r["priority"], scope=r["scope"], created_at=from_us(r["created_at_us"]))


def read_transfer(conn: Connection, community_id: str, transfer_id: str) -> TransferResult:
    row = conn.execute(sa.select(transfers).where(
        transfers.c.community_id == community_id,
        transfers.c.transfer_id == transfer_id)).mappings().first()
    if row is None:
        raise error_for(Status.transfer_not_found, f"no transfer {transfer_id!r}")
    legs = conn.execute(sa.select(postings.c.account_id, postings.c.amount,
                                  postings.c.balance_after).where(
        postings.c.community_id == community_id,
        postings.c.transfer_id == transfer_id)).all()
    moves = conn.execute(sa.select(posting_lots.c.lot_id, posting_lots.c.account_id,
                                   posting_lots.c.amount).where(
        posting_lots.c.community_id == community_id,
        posting_lots.c.transfer_id == transfer_id)).all()
    primary = None
    if row["member_id"]:
        wid = wallet_id(row["member_id"], row["asset"])
        primary = next((b for a, _, b in legs if a == wid), None)
    return TransferResult(
        id=transfer_id, kind=row["kind"], asset=row["asset"],
        amount=sum(a for _, a, _ in legs if a > 0), member_id=row["member_id"],
        service=row["service"], reverses_id=row["reverses_id"], hold_id=row["hold_id"],
        postings=[PostingInfo(account_id=a, amount=m, balance_after=b) for a, m, b in legs],
        lots=[LotMoveInfo(lot_id=lot, account_id=a, amount=m) for lot, a, m in moves],
        actor=row["actor"], reason_code=row["reason_code"], memo=row["memo"],
        metadata=json.loads(row["metadata_json"]), effective_at=from_us(row["effective_at_us"]),
        balance_after=primary)


def communities_of(store: Store) -> Iterable[str]:
    with store.read() as conn:
        return [r[0] for r in conn.execute(sa.select(communities.c.community_id))]
