"""The ledger's shared part: the write transaction of one key, checks, hold helpers.

Each write is one database transaction that claims its idempotency key, locks the accounts it
touches in sorted order, plans against their live lots (failing with a status and writing
nothing), then applies and flushes. See services/ledger/workset.py for the mechanics.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core import lots as lotlib
from jeton.core.clock import Clock, SystemClock, from_us, to_us
from jeton.core.errors import InvalidRequest, NotFound, invariant
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind
from jeton.services.ledger import idempotency, sqlspend
from jeton.services.ledger import preload as preloading
from jeton.services.ledger.clocks import CommunityClocks
from jeton.services.ledger.results import (
    HoldResult,
    Result,
    Split,
    TransferResult,
)
from jeton.services.ledger.state import (
    Acct,
    CreditNeedsLock,
    Declined,
    LockBy,
    LotSpec,
    LotState,
    MemberBy,
    PreRead,
    wallet_id,
)
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update, is_not_null_violation, is_unique_violation
from jeton.store.engine import Store
from jeton.store.tables.ledger import (
    assets,
    communities,
    hold_lots,
    holds,
    members,
)

R = TypeVar("R", bound=Result)
Hook = Callable[[WorkSet, list[TransferResult]], None]
HoldHook = Callable[[WorkSet, list[dict[str, Any]]], None]  # the rows of the holds placed
PreReads = Callable[[str, str, str], Sequence[PreRead]]  # (community, member, asset)
OperationPreReads = Callable[[str, str], Sequence[PreRead]]  # (community, asset)
FeePolicy = Callable[[WorkSet, str, int], int]  # (working set, asset, amount) -> fee
# Asked by the expiry job before it expires a wallet's lots: it may move some of them itself (a
# plan's rollover does, in a transfer of its own on `ws`) and returns the ids of those it took.
ExpiryHook = Callable[[WorkSet, Acct, list[LotState]], set[str]]
REVERSIBLE_KINDS = {k.value for k in TransferKind} - {"expiry", "reversal"}


def checked_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if not metadata:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be an object", status=Status.value_invalid)
    raw = json.dumps(metadata, default=str)
    if len(raw.encode()) > limits.metadata_bytes_max:
        raise InvalidRequest(f"metadata is over {limits.metadata_bytes_max} bytes",
                             status=Status.metadata_too_large)
    return metadata


def checked_text(value: str, what: str, chars_max: int) -> str:
    if not isinstance(value, str) or len(value) > chars_max:
        raise InvalidRequest(f"{what} must be text of at most {chars_max} characters",
                             status=Status.value_invalid)
    return value


# The answer each thread's last ledger write kept under its key, with the result it describes:
# an API route sends those bytes rather than serializing the same result again (`kept_answer`).
_KEPT = threading.local()

# How long a wallet whose credit needed its lock (`CreditNeedsLock`) is credited locked from
# the start, sparing each write a first attempt that would fail.
LOCKED_CREDITS_S = 10.0
LOCKED_CREDITS_MAX = 1024  # entries before the past ones are dropped


def _unlocked_credit_met(exc: BaseException) -> bool:
    """A credit without the wallet's lock found it needed one at the commit: the wallet gained
    a credit line (`CREDIT_POSTING` matched no row), or another write made its first merge lot
    meanwhile."""
    return is_not_null_violation(exc, "postings") or is_unique_violation(exc, "ix_lots_merge")


def kept_answer(result: object) -> str | None:
    """The JSON the ledger kept under the idempotency key for `result`, if `result` is what
    this thread's last write returned and that write made it (a replay or a write of one SQL
    call keeps none here: the caller serializes the result itself)."""
    kept = getattr(_KEPT, "answer", None)
    return kept[1] if kept is not None and kept[0] is result else None


class LedgerBase:
    """What every part of the ledger shares: the store, the clock, the hooks, the write
    transaction of one idempotency key, and the checks and hold helpers the writes reuse."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        # Called inside every write transaction after its transfers are built, before flush:
        # funding (auto-recharge) and webhooks (balance.low) hook in here.
        self.hooks: list[Hook] = []
        # Reads the hooks will make for the member a write debits, sent ahead with the write's
        # first round trip on PostgreSQL (see `write_once`); funding's auto-recharge has one.
        self.pre_reads: list[PreReads] = []
        # Called inside a write that places holds (no transfer), with their rows, before
        # flush: a freeze refuses a hold here (decision 0089).
        self.hold_hooks: list[HoldHook] = []
        # Reads of one operation only (a transfer's fee and limits), sent ahead the same way.
        self.operation_pre_reads: dict[str, list[OperationPreReads]] = {}
        # The fee of a member transfer whose caller names none, worked out inside the write
        # from what `operation_pre_reads` sent ahead (funding installs the community's rule).
        self.default_fee: FeePolicy | None = None
        # Asked by the expiry job, wallet by wallet, before it sends lots to breakage: funding's
        # plan rollover hooks in here.
        self.expiry_hooks: list[ExpiryHook] = []
        # Plain spends on PostgreSQL as one call of `jeton_spend` (services/ledger/sqlspend.py):
        # None is the default (decision 0078), False the Python write, True the function.
        self.spend_in_sql: bool | None = None
        # Communities (and assets) whose plain spends the function lately left to Python, until
        # when (`sqlspend.COMMUNITY_REASONS`, decision 0095).
        self.sql_fallbacks: dict[tuple[str, str], float] = {}
        self._known_communities: set[str] = set()
        # Wallets whose credits lately needed their lock (a credit line, a low-balance alert),
        # by community and account, until when: `write_once` locks them from the start.
        self.locked_credits: dict[tuple[str, str], float] = {}
        # Each hold's wallet, member and asset, by community and hold (`LedgerHolds.hold_owner`).
        self.hold_owners: dict[tuple[str, str], tuple[str, str, str]] = {}
        # Which communities run on a test clock, and the scope that puts an operation on its
        # community's time (decision 0056).
        self.clocks = CommunityClocks(store)

    def now_us(self) -> int:
        return to_us(self.clock.now())

    def write_once(self, community_id: str, key: str, operation: str,
                   request: dict[str, Any], body: Callable[[WorkSet], R], result_type: type[R],
                   *, now_us: int | None = None, accounts: Sequence[str] = (),
                   member_id: str | None = None, asset: str = "CREDIT",
                   req_hash: str | None = None, reads: Sequence[PreRead] = (),
                   credited: Sequence[str] = (),
                   lot_reads: Sequence[tuple[sa.sql.ClauseElement, dict[str, Any]]] = (),
                   lock_by: LockBy | None = None, member_by: MemberBy | None = None,
                   ) -> R:
        """Run `body` once per idempotency key: one transaction that claims the key, builds the
        write on a WorkSet, runs the hooks and flushes. A replay returns the stored answer; a
        request racing another with the same key is retried and finds that answer. Every
        service that writes to the ledger (charging, funding) goes through here.

        `accounts` names the accounts the write will touch when the caller knows them, and
        `member_id` the member it debits: on PostgreSQL they are locked and read with the key,
        and the hooks' reads for that member with them, in the write's first round trip; its
        rows and COMMIT go in the second (decision 0037). Elsewhere they change nothing.
        `reads`: the caller's own reads, sent ahead the same way (`WorkSet.read_ahead`), and
        `lot_reads` the lots it will name by id and `lock_by` accounts it names by what holds
        them (`WorkSet.preload`); `member_by`, without `member_id`, the member it debits as
        found in the first round trip (a hold's), for the hooks' reads.
        `credited`: wallets of `accounts` the write only credits and whose balance after it
        neither its answer nor a hook reads (a charge's royalties): on PostgreSQL they are
        credited without holding their lock across the write (`WorkSet.preload`, decision
        0097). Any sign that one needs its lock after all (a credit line, two writes making its
        first royalty lot at once, a deadlock) has the write done again with every wallet
        locked."""
        if req_hash is None:  # a caller that hashed its request itself passes `{}` and the hash
            req_hash = idempotency.request_hash(operation, request)
        pipelined = self.store.dialect == "postgresql" and (bool(accounts) or bool(lock_by))
        answered: list[str] = []  # the answer kept with the key (the tx may run on another thread)
        # The wallets the first attempt may credit unlocked; any attempt after it locks them all.
        may_credit_unlocked = self._credit_unlocked(community_id, credited) if pipelined else []
        credit_unlocked: list[str] = []  # those the latest attempt credited unlocked

        def tx(conn: Connection) -> R:
            nonlocal may_credit_unlocked, credit_unlocked
            answered.clear()
            credit_unlocked, may_credit_unlocked = may_credit_unlocked, []
            self._require_community(conn, community_id)
            ws = WorkSet(conn, self.store.dialect, community_id,
                         self.now_us() if now_us is None else now_us)
            if pipelined:
                by_member = member_by if member_id is None else None
                for_member = self._member_reads(community_id, member_id, asset, by_member)
                ahead = [*for_member, *self._operation_reads(community_id, operation, asset)]
                row = ws.preload(accounts, idempotency.key_read(community_id, key),
                                 [*ahead, *reads],
                                 debited=wallet_id(member_id, asset) if member_id else None,
                                 credited=credit_unlocked, lot_reads=lot_reads,
                                 lock_by=lock_by)
                if by_member is not None:
                    self._name_member_reads(ws, community_id, by_member, for_member)
            else:  # on the working set's cursor, already open
                row = ws.db.first(*idempotency.key_read(community_id, key))
            stored = idempotency.Stored(*row) if row is not None else None
            replay = idempotency.check_replay(stored, key, operation, req_hash)
            if replay is not None:
                return result_type.model_validate_json(replay).model_copy(
                    update={"replayed": True})
            try:
                result = body(ws)
            except Declined as d:
                raise d.error() from None
            answer = result.model_dump_json()
            ws.remember_key(key, operation, req_hash, answer)
            self.run_hooks(ws)
            ws.flush(commit=self.store.dialect == "postgresql")
            answered.append(answer)
            return result

        raced = False
        for _attempt in range(3):
            try:
                done = self.store.run_write(tx)
                _KEPT.answer = (done, answered[0]) if answered else None
                return done
            except CreditNeedsLock as exc:
                self._lock_credits_of(community_id, exc.account_id)
                continue  # `unlocked` is off now
            except Exception as exc:  # wrapped by SQLAlchemy, or raw from the hot path
                if not raced and idempotency.is_key_race(exc):
                    raced = True
                    continue
                if credit_unlocked and _unlocked_credit_met(exc):
                    continue  # the first attempt credited unlocked; the next one locks
                raise
        raise AssertionError("unreachable")

    def _member_reads(self, community_id: str, member_id: str | None, asset: str,
                      member_by: MemberBy | None) -> list[PreRead]:
        """The hooks' reads for the member a write debits (`pre_reads`), sent ahead; with
        `member_by`, for the member its subquery finds, under a name of no member's until
        `_name_member_reads` files their rows."""
        if member_id:
            return [r for pre in self.pre_reads for r in pre(community_id, member_id, asset)]
        if member_by is None:
            return []
        return [preloading.by_member(r, member_by) for pre in self.pre_reads
                for r in pre(community_id, "", "")]

    def hook_reads(self, community_id: str, members: Iterable[tuple[str, str]],
                   operation: str) -> list[PreRead]:
        """What the hooks will read for many writes of `operation` by `members` (member,
        asset) in one transaction, to send with its first round trip on PostgreSQL: each
        member's reads (`_member_reads`) once, then the operation's own for each asset (a batch
        of spends, charges made together)."""
        reads: dict[str, PreRead] = {}
        pairs = list(dict.fromkeys(members))
        for member, asset in pairs:
            for read in self._member_reads(community_id, member, asset, None):
                reads.setdefault(read.name, read)
        for asset in dict.fromkeys(asset for _, asset in pairs):
            for read in self._operation_reads(community_id, operation, asset):
                reads.setdefault(read.name, read)
        return list(reads.values())

    def _operation_reads(self, community_id: str, operation: str, asset: str) -> list[PreRead]:
        """What the hooks of `operation` read whoever writes it (a community's transfer fee),
        sent ahead like `_member_reads`."""
        return [r for pre in self.operation_pre_reads.get(operation, ())
                for r in pre(community_id, asset)]

    def _name_member_reads(self, ws: WorkSet, community_id: str, member_by: MemberBy,
                           sent: Sequence[PreRead]) -> None:
        """File the rows of `sent` (`_member_reads` by `member_by`) under the names the hooks
        will ask for, now that the first round trip has found the member and asset."""
        rows = [ws.prefetched.pop(read.name, None) for read in sent]
        found = member_by.found(ws.prefetched)
        if found is None:  # nothing to debit: the write declines before any hook asks
            return
        named = [r for pre in self.pre_reads for r in pre(community_id, *found)]
        for read, row in zip(named, rows, strict=True):
            ws.prefetched[read.name] = row

    def _lock_credits_of(self, community_id: str, account_id: str) -> None:
        """Credit this wallet locked for `LOCKED_CREDITS_S`; past entries are dropped when there
        are many, so a long-running process keeps only the recent ones."""
        now = time.monotonic()
        kept = self.locked_credits
        if len(kept) >= LOCKED_CREDITS_MAX:
            for key, until in list(kept.items()):  # a copy: other threads may add meanwhile
                if until <= now:
                    kept.pop(key, None)
        kept[(community_id, account_id)] = now + LOCKED_CREDITS_S

    def _credit_unlocked(self, community_id: str, credited: Sequence[str]) -> list[str]:
        """The wallets of `credited` that `write_once` may credit without their lock: none but
        with every hook one whose reads are known (`sqlspend.KNOWN_HOOKS`: a host app's hook
        may read any balance); of those, each but one whose credit lately needed its lock."""
        if not credited or not sqlspend.hooks_known(self, self.hooks):
            return []
        found = []
        now = time.monotonic()
        for account_id in credited:
            until = self.locked_credits.get((community_id, account_id))
            if until is not None:
                if now < until:
                    continue
                self.locked_credits.pop((community_id, account_id), None)
            found.append(account_id)
        return found

    def _write_plain(self, fn: Callable[[Connection], None]) -> None:
        def tx(conn: Connection) -> None:
            try:
                fn(conn)
            except Declined as d:
                raise d.error() from None

        self.store.run_write(tx)

    def run_hooks(self, ws: WorkSet) -> None:
        if ws.results:
            for hook in self.hooks:
                hook(ws, ws.results)
        if ws.hold_inserts:
            for hold_hook in self.hold_hooks:
                hold_hook(ws, ws.hold_inserts)

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
            ws.hold_updates[hold_id] = hold_update_row(ws, hold)
        return bool(due)

    def _lock_hold(self, ws: WorkSet, hold_id: str) -> tuple[dict[str, Any], Acct]:
        cached = ws.hold_rows
        if hold_id in cached:
            hold = cached[hold_id]
            return hold, ws.accounts[hold["account_id"]]
        ahead = f"hold:{hold_id}"
        if ahead in ws.prefetched:  # locked in the first round trip, after its wallet
            found = ws.prefetched.pop(ahead)
            if found is None:
                raise Declined(Status.hold_not_found, f"no hold {hold_id!r}")
            hold = cached[hold_id] = dict(zip(holds.c.keys(), found, strict=True))
            invariant(ws.loaded(hold["account_id"]) is not None, "a hold's wallet is locked")
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
        ahead = f"hold_lots:{hold_id}"
        if hold_id not in cache and ahead in ws.prefetched:
            cache[hold_id] = [dict(zip(hold_lots.c.keys(), r, strict=True))
                              for r in ws.prefetched.pop(ahead)]
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
                ws.hold_lot_updates[(hold["hold_id"], hl["lot_id"])] = hold_lot_update_row(ws, hl)
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


def as_split(value: Split | dict[str, Any]) -> Split:
    return value if isinstance(value, Split) else Split.model_validate(value)


def page_limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
        raise InvalidRequest(f"limit must be 1-{limits.page_size_max}", status=Status.value_invalid)
    return limit


def hold_update_row(ws: WorkSet, hold: dict[str, Any]) -> dict[str, Any]:
    return {"b_community": ws.community_id, "b_hold": hold["hold_id"],
            "captured": hold["captured"], "voided": hold["voided"], "status": hold["status"],
            "settled_at_us": hold["settled_at_us"]}


def hold_lot_update_row(ws: WorkSet, hl: dict[str, Any]) -> dict[str, Any]:
    return {"b_community": ws.community_id, "b_hold": hl["hold_id"], "b_lot": hl["lot_id"],
            "used": hl["used"], "released": hl["released"]}


def hold_result(hold: dict[str, Any], transfer: TransferResult | None = None) -> HoldResult:
    return HoldResult(id=hold["hold_id"], member_id=hold["member_id"], asset=hold["asset"],
                      amount=hold["amount"], captured=hold["captured"], voided=hold["voided"],
                      status=hold["status"], service=hold["service"],
                      expires_at=from_us(hold["expires_at_us"]),
                      created_at=from_us(hold["created_at_us"]), transfer=transfer)
