"""Grants, spends, member transfers and reversals: every movement that is not a hold."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core import lots as lotlib
from jeton.core.errors import Conflict, InvalidRequest, JetonError, WalletFrozen
from jeton.core.statuses import Status
from jeton.core.transfers import TransferDraft, TransferKind
from jeton.services.ledger import collector, idempotency, sqlspend
from jeton.services.ledger import statements as q
from jeton.services.ledger.base import (
    REVERSIBLE_KINDS,
    LedgerBase,
    as_split,
    checked_metadata,
    checked_text,
)
from jeton.services.ledger.results import (
    BatchItem,
    SpendRequest,
    Split,
    TransferResult,
    trusted,
)
from jeton.services.ledger.state import (
    Acct,
    Declined,
    Header,
    LockBy,
    LotSpec,
    PreRead,
    system_id,
    wallet_id,
)
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import is_unique_violation
from jeton.store.tables.ledger import (
    posting_lots,
    postings,
    transfers,
)


class LedgerWrites(LedgerBase):
    """Movements of credits: grants, spends (one or a batch), member transfers and reversals."""

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
        checked_text(req.memo, "memo", limits.memo_chars_max)
        checked_text(req.reason_code, "reason code", limits.reason_code_chars_max)
        checked_metadata(req.metadata)

    def _spend_accounts(self, req: SpendRequest) -> list[str]:
        ids = [wallet_id(req.member, req.asset), system_id("revenue", req.asset)]
        for s in req.splits:
            ids.append(wallet_id(s.member, req.asset) if s.member
                       else system_id(s.account or "", req.asset))
        return ids

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
                        actor=actor, reason_code=checked_text(reason_code, "reason code", 64),
                        memo=checked_text(memo, "memo", limits.memo_chars_max),
                        metadata=checked_metadata(metadata), idempotency_key=key)
        request = {"member": member_id, "amount": amount, "asset": asset, "lot": spec,
                   "from": source_account, "reason": reason_code, "memo": memo,
                   "metadata": header.metadata}

        def body(ws: WorkSet) -> TransferResult:
            return self.apply_grant(ws, header, member_id, amount, spec, source_account)

        return self.write_once(community_id, key, "grant", request, body, TransferResult,
                               accounts=[source_account, wallet_id(member_id, asset)])

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
                           asset=asset, service=service, splits=[as_split(s) for s in splits],
                           memo=memo, reason_code=reason_code, metadata=metadata or {})
        self._check_spend(req)
        header = _spend_transfer_header(req, actor)
        # The key is bound to the request's fields (`_spend_request`), hashed once here.
        req_hash = (_spend_request_hash(req) if to_account is None else
                    idempotency.request_hash("spend", _spend_request(req, to_account)))
        if (to_account is None and not req.splits
                and sqlspend.enabled(self.store, self.hooks, self, self.spend_in_sql)
                and not sqlspend.left_to_python(self.sql_fallbacks, community_id,
                                                header.asset)):
            done = sqlspend.spend(self.store, community_id, header, req.amount, req_hash,
                                  self.now_us(), self.sql_fallbacks)  # one call (0078)
            if done is not None:
                return done

        def body(ws: WorkSet) -> TransferResult:
            return self.apply_spend(ws, header, req, to_account)

        return self.write_once(
            community_id, req.idempotency_key, "spend", {}, body, TransferResult,
            accounts=[*self._spend_accounts(req), system_id(to_account or "revenue", req.asset)],
            member_id=req.member, asset=req.asset, req_hash=req_hash)

    def spend_batch(self, community_id: str, items: Sequence[SpendRequest | dict[str, Any]], *,
                    actor: str = "system") -> list[BatchItem]:
        """Many spends in one transaction, each with its own key and its own status.

        A declined item writes nothing and does not stop the others. Each item is the spend
        `spend` would make (same rows, same answer, same key), on one working set. A member
        whose wallet is frozen has each of their items declined (`wallet_frozen`), as their
        spends one by one would be; the batch is written again without them (decision 0083).
        """
        if len(items) > limits.batch_size_max:
            raise InvalidRequest(f"a batch holds at most {limits.batch_size_max} items",
                                 status=Status.batch_too_large)
        with collector.paused():  # what a batch makes lives until its end (decision 0092)
            return self._spend_batch(community_id, items, actor)

    def spend_together(self, community_id: str, items: Sequence[SpendRequest], *,
                       actor: str = "system") -> list[tuple[TransferResult, str] | None]:
        """The spends of `items` made in one write, each as `spend` makes it (same rows, answer
        and key): for each, its result and the JSON kept under its key, or None where it is
        to be made alone by `spend` (the API's writer, decision 0121). Left alone: a request
        that is refused, a key used before (a replay or a conflict) or by an earlier item, a
        spend that declines, the spends of a member whose wallet is frozen, and every one when
        the write fails (a hook's refusal, the database's error): alone, each says why."""
        made: list[tuple[TransferResult, str] | None] = [None] * len(items)
        if len(items) < 2:
            return made
        try:
            with self.clocks.scope(community_id), collector.paused():
                self._spend_batch(community_id, items, actor, made=made)
        except Exception:  # a hook's refusal, the database's: each made alone tells its own
            return [None] * len(items)
        return made

    def _spend_batch(self, community_id: str, items: Sequence[SpendRequest | dict[str, Any]],
                     actor: str, *, made: list[tuple[TransferResult, str] | None] | None = None,
                     ) -> list[BatchItem]:
        """`spend_batch`'s write; with `made`, `spend_together`'s: the spends it makes set there
        (instead of a batch item), every other item left out (None)."""
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

        frozen: dict[str, WalletFrozen] = {}  # members a guard refused, in an earlier try
        postgres = self.store.dialect == "postgresql"

        def tx(conn: Connection) -> None:
            self._require_community(conn, community_id)
            ws = WorkSet(conn, self.store.dialect, community_id, self.now_us())
            keys = [p[1].idempotency_key for p in prepared]
            accounts = [a for _, req, _, _ in prepared for a in self._spend_accounts(req)]
            if postgres:  # keys, wallets, lots and the hooks' reads: one round trip
                payers = [(req.member, req.asset) for _, req, _, _ in prepared]
                stored = idempotency.stored_by_key(ws.preload_batch(
                    accounts, idempotency.lookup_reads(community_id, keys, "postgresql"),
                    self.hook_reads(community_id, payers, "spend")))
            else:
                stored = idempotency.lookup_many(conn, community_id, keys)
                ws.load(accounts)
            seen: dict[str, tuple[str, str]] = {}  # keys claimed earlier in this batch
            if made is not None:
                made[:] = [None] * len(made)
            for i, req, header, req_hash in prepared:
                key = req.idempotency_key
                try:
                    earlier = seen.get(key)
                    replay = idempotency.check_replay(
                        idempotency.Stored("spend", *earlier) if earlier else stored.get(key),
                        key, "spend", req_hash)
                    if replay is not None:  # (not `made`: a replay is made alone)
                        res = TransferResult.model_validate_json(replay).model_copy(
                            update={"replayed": True})
                        results[i] = trusted(BatchItem, {"index": i, "status": "ok",
                                                         "detail": "", "result": res})
                        continue
                    if req.member in frozen:  # a replay answers still, as one by one
                        raise frozen[req.member]
                    res = self.apply_spend(ws, header, req, None)
                    body = res.model_dump_json()
                    ws.remember_key(key, "spend", req_hash, body)
                    seen[key] = (req_hash, body)
                    if made is not None:  # the answer, not a batch item, for the API's writer
                        made[i] = (res, body)
                    else:
                        results[i] = trusted(BatchItem, {"index": i, "status": "ok",
                                                         "detail": "", "result": res})
                except Declined as d:
                    results[i] = BatchItem(index=i, status=d.status.value, detail=d.detail)
                except JetonError as exc:
                    results[i] = BatchItem(index=i, status=exc.status.value, detail=exc.detail)
            self.run_hooks(ws)
            ws.flush(commit=postgres)  # on PostgreSQL with COMMIT: the second round trip

        while True:
            try:
                self.store.run_write(tx)
                return [r for r in results if r is not None]
            except WalletFrozen as exc:  # the guard names the member: again, without them
                member = exc.extra.get("member")
                if not isinstance(member, str) or member in frozen:
                    raise
                frozen[member] = exc

    def apply_spend(self, ws: WorkSet, header: Header, req: SpendRequest,
                    to_account: str | None) -> TransferResult:
        asset = req.asset
        revenue = system_id(to_account or "revenue", asset)
        payer = wallet_id(req.member, asset)
        wallet = ws.loaded(payer)
        if wallet is None or req.splits or revenue not in ws.accounts:
            if req.splits:
                others = self._spend_accounts(req)[1:]
                ws.load([payer])
                ws.load([*others, revenue], with_lots=False)
                ws.load_credit_lots(others)  # the splits' wallets take credits, all in one read
            else:  # a plain spend: the wallet with its lots and the revenue account, one call
                ws.load((payer, revenue))
            wallet = ws.loaded(payer) or self._wallet(ws, req.member, asset)
            if revenue not in ws.accounts:
                self._missing_system_account(ws, asset, revenue)
        plan = self._plan_or_release(ws, wallet, req.amount, req.service)
        if not req.splits:  # a plain spend: the same rows, without a draft
            return ws.pay(header, wallet, req.amount, plan, ws.accounts[revenue])
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
                 idempotency_key: str, asset: str = "CREDIT", fee: int | None = 0,
                 actor: str = "system", reason_code: str = "transfer", memo: str = "",
                 metadata: dict[str, Any] | None = None) -> TransferResult:
        """Credits from one member to another. The lots travel: paid stays paid (with its
        share of cost basis), expiring credits keep their expiry. A fee goes to revenue;
        `fee=None` is the community's fee (`default_fee`), worked out inside the write."""
        amount = amounts.positive_amount(amount)
        if fee is not None:
            fee = amounts.whole_amount(fee, "fee")
            if fee < 0:
                raise InvalidRequest("fee must not be negative", status=Status.amount_invalid)
        key = amounts.idempotency_key(idempotency_key)
        if from_member == to_member:
            raise InvalidRequest("a member cannot transfer to themself", status=Status.same_account)
        header = Header(TransferKind.transfer, amounts.asset_code(asset), member_id=from_member,
                        actor=actor, reason_code=checked_text(reason_code, "reason code", 64),
                        memo=checked_text(memo, "memo", limits.memo_chars_max),
                        metadata={**checked_metadata(metadata), "to_member": to_member},
                        idempotency_key=key)
        request = {"from": from_member, "to": to_member, "amount": amount, "fee": fee,
                   "asset": asset, "memo": memo, "metadata": header.metadata}

        def body(ws: WorkSet) -> TransferResult:
            fee_ = fee
            if fee_ is None:
                policy = self.default_fee
                fee_ = policy(ws, asset, amount) if policy is not None else 0
            return self._transfer(ws, header, from_member, to_member, amount, fee_)

        return self.write_once(
            community_id, key, "transfer", request, body, TransferResult,
            accounts=[wallet_id(from_member, asset), wallet_id(to_member, asset),
                      system_id("revenue", asset)], member_id=from_member, asset=asset)

    def _transfer(self, ws: WorkSet, header: Header, from_member: str, to_member: str,
                  amount: int, fee: int) -> TransferResult:
        asset = header.asset
        ws.load([wallet_id(from_member, asset)])
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
                scope=lot.scope, carried_from=lot.id))
        if fee:
            revenue = system_id("revenue", asset)
            ws.load([revenue], with_lots=False)
            draft.add(revenue, fee)
        return ws.commit_transfer(header, draft, sender)

    def reverse(self, community_id: str, transfer_id: str, *, idempotency_key: str,
                actor: str = "system", reason_code: str = "reversal",
                memo: str = "") -> TransferResult:
        """The exact opposite of an earlier transfer: every posting negated, every lot it drew
        from given back (with its expiry and paid/free status), every lot it filled emptied."""
        key = amounts.idempotency_key(idempotency_key)
        request = {"transfer": transfer_id, "reason": reason_code, "memo": memo}
        params = {"c": community_id, "t": transfer_id}
        # On PostgreSQL the write's first round trip reads the transfer, its postings and lot
        # moves (the journal's: they never change), and locks the accounts they name.
        source = [PreRead(f"reversing:{n}:{transfer_id}", stmt, params, all_rows=True)
                  for n, stmt in enumerate(_REVERSED)]
        done_read = PreRead(f"reversed:{transfer_id}", _REVERSED_BY, params, all_rows=True)

        def body(ws: WorkSet) -> TransferResult:
            header_rows, legs, moves = (ws.read_ahead(read) for read in source)
            if not header_rows:
                raise Declined(Status.transfer_not_found, f"no transfer {transfer_id!r}")
            kind, asset, member_id, service = header_rows[0]
            if kind not in REVERSIBLE_KINDS:
                raise Declined(Status.not_reversible, f"a {kind} transfer cannot be reversed")
            done = ws.read_ahead(done_read)  # all rows: read now on SQLite, never kept
            if done:
                raise Declined(Status.already_reversed,
                               f"transfer {transfer_id} was already reversed by {done[0][0]}")
            # The lots it moved are named by id (`WorkSet.lot`); SQLite reads the wallets'
            # live lots with them, for the writer's cache.
            ws.load((a for a, _ in legs), with_lots=ws.dialect != "postgresql")
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

        try:  # no hook reads for a reversal's member: its kind is none of theirs
            return self.write_once(community_id, key, "reverse", request, body, TransferResult,
                                   reads=[*source, done_read],
                                   lock_by=LockBy(_LOCK_REVERSED, params),
                                   lot_reads=[(_LOTS_MOVED_BY, params)])
        except Exception as exc:  # a concurrent reversal of the same transfer won
            if is_unique_violation(exc, "reverses"):
                raise Conflict(f"transfer {transfer_id} was already reversed",
                               status=Status.already_reversed) from None
            raise


# What a reversal reads of the transfer it reverses (`LedgerWrites.reverse`).
_REVERSED = (
    sa.select(transfers.c.kind, transfers.c.asset, transfers.c.member_id,
              transfers.c.service).where(transfers.c.community_id == sa.bindparam("c"),
                                         transfers.c.transfer_id == sa.bindparam("t")),
    sa.select(postings.c.account_id, postings.c.amount).where(
        postings.c.community_id == sa.bindparam("c"),
        postings.c.transfer_id == sa.bindparam("t")),
    sa.select(posting_lots.c.account_id, posting_lots.c.lot_id, posting_lots.c.amount).where(
        posting_lots.c.community_id == sa.bindparam("c"),
        posting_lots.c.transfer_id == sa.bindparam("t")),
)
_REVERSED_BY = sa.select(transfers.c.transfer_id).where(
    transfers.c.community_id == sa.bindparam("c"),
    transfers.c.reverses_id == sa.bindparam("t"))
_LOCK_REVERSED = q.lock_accounts_in(sa.select(postings.c.account_id).where(
    postings.c.community_id == sa.bindparam("c"), postings.c.transfer_id == sa.bindparam("t")))
_LOTS_MOVED_BY = q.lots_in(sa.select(posting_lots.c.lot_id).where(
    posting_lots.c.community_id == sa.bindparam("c"),
    posting_lots.c.transfer_id == sa.bindparam("t")))


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
