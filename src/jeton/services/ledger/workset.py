"""The working set of one write transaction.

A write loads the accounts it touches (locked, in sorted order) and their live lots once, applies
one or many operations to that in-memory copy, and then flushes every change with a handful of
`executemany` statements. A single spend and a batch of a thousand take the same path; the
batch only pays the round trips once (and seals its plain spends with `pay`, which writes what
`draw` and `commit_transfer` would, without building a draft for each).

Each operation first plans (pure, may fail with a status and changes nothing) and then applies.
Rows are written with absolute values computed here; that is safe because every row written
belongs to an account this transaction holds locked (PostgreSQL) or the database's single write
lock (SQLite); except a wallet a write only credits (`preload`'s `credited`, decision 0097),
whose rows gain what the credit adds, in the commit's round trip.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Connection, Engine

from jeton.core import lots as lotlib
from jeton.core.clock import from_us
from jeton.core.errors import InvariantViolation, invariant
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.core.transfers import TransferDraft, metadata_json, transfer_hash
from jeton.services.ledger import flush as flushing
from jeton.services.ledger import preload as preloading
from jeton.services.ledger import statements as q
from jeton.services.ledger.cache import WriterCache, open_cache
from jeton.services.ledger.results import LotMoveInfo, PostingInfo, TransferResult, trusted
from jeton.services.ledger.state import (
    Acct,
    Declined,
    Header,
    LotSpec,
    LotState,
    PreRead,
    too_few_credits,
    wallet_id,
)
from jeton.store.fastsql import Runner
from jeton.store.sql import insert_ignore
from jeton.store.tables.ledger import (
    accounts,
)

# System and named accounts never change once made (their balance is not on the row), so each
# process keeps them, per database (one community id may be in two), after the first read.
_SYSTEM_CACHE: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], tuple[Any, ...]]] = (
    weakref.WeakKeyDictionary())


class WorkSet:
    def __init__(self, conn: Connection, dialect: str, community_id: str, now_us: int) -> None:
        self.conn = conn
        self.dialect = dialect
        self.db = Runner(conn, dialect)
        self.community_id = community_id
        self.now_us = now_us
        self.effective_at = from_us(now_us)
        self.accounts: dict[str, Acct] = {}
        self.lots: dict[str, LotState] = {}
        self.lots_by_account: dict[str, list[LotState]] = {}
        self._loaded_lots_for: set[str] = set()
        # Wallets whose lots that can take a credit are loaded (see `load_credit_lots`).
        self._credit_lots_for: set[str] = set()
        self._merge_misses: set[tuple[str, str]] = set()
        self._spend_orders: dict[tuple[str, str | None], tuple[int, list[LotState]]] = {}
        self.new_accounts: list[dict[str, Any]] = []
        self.transfer_rows: list[dict[str, Any]] = []
        self.posting_rows: list[dict[str, Any]] = []
        self.posting_lot_rows: list[dict[str, Any]] = []
        self.key_rows: list[dict[str, Any]] = []
        self.event_rows: list[dict[str, Any]] = []
        # Rows of a service's own tables that the write adds to its flush (a metered use's),
        # by their INSERT, made once per process (the flush compiles it once).
        self.service_rows: list[tuple[Any, list[dict[str, Any]]]] = []
        self.hold_inserts: list[dict[str, Any]] = []
        self.hold_updates: dict[str, dict[str, Any]] = {}
        self.hold_lot_inserts: list[dict[str, Any]] = []
        self.hold_lot_updates: dict[tuple[str, str], dict[str, Any]] = {}
        # Holds this transaction read (locked), and their lot reservations, by hold id.
        self.hold_rows: dict[str, dict[str, Any]] = {}
        self.hold_lot_rows: dict[str, list[dict[str, Any]]] = {}
        self.results: list[TransferResult] = []
        # Wallets credited without their lock (`preload`'s `credited`): their postings, and
        # what each of their lots gains (amount, cost), are written relative to the row.
        self.unlocked: set[str] = set()
        self.unlocked_postings: list[dict[str, Any]] = []
        self.unlocked_lot_adds: dict[str, list[int]] = {}
        self.prefetched: dict[str, Any] = {}  # rows read ahead (`preload`), by read's name
        # SQLite: the rows this writer connection's earlier writes left (services/ledger/cache.py).
        self.cache: WriterCache | None = None
        self._changes_at_start = 0  # rows this connection had changed when the cache was valid
        if dialect == "sqlite":
            self.cache = open_cache(conn)
            self._changes_at_start = self.cache.start[1]

    # ---- loading ----

    def load(self, account_ids: Iterable[str], *, with_lots: bool = True) -> None:
        """Lock and load wallets (in sorted order) with their live lots; other accounts are
        read without a lock (nothing on their row changes)."""
        ids = set(account_ids)
        wanted = ids - self.accounts.keys()
        if wanted and self.cache is not None and self._cache_holds():
            cache = self.cache
            for held, loaded in ((cache.held(self.community_id, wanted), self._loaded_lots_for),
                                 (cache.held_for_credit(self.community_id, wanted),
                                  self._credit_lots_for)):
                for aid, (acct_row, lot_rows) in held:
                    if aid not in self.accounts:
                        self.accounts[aid] = q.acct(acct_row)
                    for lot_row in lot_rows:
                        self._add_lot(q.lot(lot_row))
                    loaded.add(aid)
            wanted = ids - self.accounts.keys()
        if wanted:
            wallets = sorted(a for a in wanted if a.startswith("wallet:"))
            if 1 < len(wallets) <= q.MANY_MAX:  # one round trip, locking in the same order
                params = {f"a{i}": aid for i, aid in enumerate(wallets)}
                params["c"] = self.community_id
                for locked in self.db.rows(q.lock_accounts(self.dialect, len(wallets)), params):
                    self.accounts[locked[0]] = q.acct(locked)
            else:
                lock = q.LOCK_ACCOUNT[self.dialect]
                for aid in wallets:  # one at a time, in sorted order: no deadlock between writers
                    row = self.db.first(lock, {"c": self.community_id, "a": aid})
                    if row is not None:
                        self.accounts[aid] = q.acct(row)
            for aid in sorted(wanted.difference(wallets)):
                self._load_system(aid)
        if with_lots:
            need = sorted(a for a in ids
                          if a in self.accounts and self.accounts[a].tracked
                          and a not in self._loaded_lots_for)
            if need:
                self._load_lots(need)

    preload = preloading.preload  # PostgreSQL's first round trip (services/ledger/preload.py)
    preload_batch = preloading.preload_batch  # the same for a batch of spends

    def _cache_holds(self) -> bool:
        """Whether the writer's cache may be used now: it was valid when this working set
        began, and nothing has written in this transaction since."""
        cache = self.cache
        return cache is not None and cache.changes() == self._changes_at_start

    def read_ahead(self, read: PreRead) -> Any:
        """The row of `read` (its rows, `all_rows`): those `preload` fetched with the first
        round trip, or, where nothing was sent ahead (SQLite, or a write that named no
        accounts), read now (one row on SQLite from the writer's cache when it holds it)."""
        if read.name in self.prefetched:
            return self.prefetched.pop(read.name)
        if read.all_rows:
            return self.db.rows(read.stmt, read.params)
        if self.cache is None or not read.cached or not self._cache_holds():
            return self.db.first(read.stmt, read.params)
        return self.cache.read(self.community_id, read.name,
                               lambda: self.db.first(read.stmt, read.params))

    def _load_system(self, account_id: str) -> None:
        invariant(not account_id.startswith("wallet:"), "a wallet is read locked or credited")
        key = (self.community_id, account_id)
        kept = _SYSTEM_CACHE.get(self.conn.engine) or _SYSTEM_CACHE.setdefault(self.conn.engine, {})
        row = kept.get(key)
        if row is None:
            found = self.db.first(q.SELECT_ACCOUNT, {"c": self.community_id, "a": account_id})
            if found is None:
                return
            row = found
            if not row[4]:  # untracked: immutable, safe to keep
                kept[key] = row
        self.accounts[account_id] = q.acct(row)

    def _load_lots(self, account_ids: list[str]) -> None:
        if 1 < len(account_ids) <= q.MANY_MAX:
            params = {f"a{i}": aid for i, aid in enumerate(account_ids)}
            params["c"] = self.community_id
            for row in self.db.rows(q.live_lots_of(self.dialect, len(account_ids)), params):
                self._add_lot(q.lot(row))
        else:
            for aid in account_ids:
                for row in self.db.rows(q.SELECT_LIVE_LOTS, {"c": self.community_id, "a": aid}):
                    self._add_lot(q.lot(row))
        self._loaded_lots_for.update(account_ids)

    def _add_lot(self, lot: LotState) -> LotState:
        known = self.lots.get(lot.id)
        if known is not None:
            return known
        self.lots[lot.id] = lot
        self.lots_by_account.setdefault(lot.account_id, []).append(lot)
        return lot

    def load_credit_lots(self, account_ids: Iterable[str]) -> None:
        """Read the lots a credit to these wallets may touch (their credit line's lot and their
        mergeable lots), in one statement, unless this working set has them already."""
        need = sorted(a for a in set(account_ids)
                      if a in self.accounts and self.accounts[a].tracked
                      and a not in self._loaded_lots_for and a not in self._credit_lots_for)
        if not need:
            return
        params: dict[str, Any] = {f"a{i}": aid for i, aid in enumerate(need)}
        params["c"] = self.community_id
        for row in self.db.rows(q.credit_lots_of(self.dialect, len(need)), params):
            self._add_lot(q.lot(row))
        self._credit_lots_for.update(need)

    def merge_lot(self, account_id: str, key: str) -> LotState | None:
        """The lot free credits with these attributes merge into, if the wallet has one."""
        for lot in self.wallet_lots(account_id):
            if lot.merge_key == key:
                return lot
        if account_id in self._credit_lots_for:  # every mergeable lot of it is loaded
            return None
        probe = (account_id, key)
        if probe in self._merge_misses:
            return None
        row = self.db.first(q.SELECT_MERGE_LOT, {"c": self.community_id, "a": account_id,
                                                "k": key})
        if row is None:
            self._merge_misses.add(probe)
            return None
        return self._add_lot(q.lot(row))

    def account(self, account_id: str) -> Acct:
        acct = self.accounts.get(account_id)
        if acct is None:
            raise Declined(Status.account_not_found, f"no account {account_id!r}",
                           account=account_id)
        return acct

    def ensure_wallet(self, member_id: str, asset: str) -> Acct:
        """The member's wallet for `asset`, opened (floor 0) on first use."""
        aid = wallet_id(member_id, asset)
        if aid not in self.accounts:
            self.load([aid], with_lots=False)  # a credit reads what it needs (`credit`)
        if aid in self.accounts:
            return self.accounts[aid]
        exists = self.db.first(q.SELECT_MEMBER, {"c": self.community_id, "m": member_id})
        if exists is None:
            raise Declined(Status.member_not_found, f"no member {member_id!r}", member=member_id)
        row = {"community_id": self.community_id, "account_id": aid, "kind": "wallet",
               "member_id": member_id, "asset": asset, "tracked": True, "floor": 0,
               "posted": 0, "pending": 0, "version": 0, "created_at_us": self.now_us}
        # Insert now (not at flush) so that a concurrent opener blocks on the key, then lock it;
        # its row may meet the id's key or the member's, whichever the database checks first.
        self.conn.execute(insert_ignore(self.dialect, accounts, None), row)
        self.load([aid])
        return self.accounts[aid]

    def wallet_lots(self, account_id: str) -> list[LotState]:
        return self.lots_by_account.get(account_id, [])

    def loaded(self, account_id: str) -> Acct | None:
        """The account if this working set holds it with its lots (a wallet: locked)."""
        if account_id in self._loaded_lots_for:
            return self.accounts.get(account_id)
        return None

    # ---- planning helpers (pure over the working set) ----

    def spendable(self, account_id: str, service: str | None) -> int:
        core = [lot.core() for lot in self.wallet_lots(account_id)]
        return lotlib.available_from_lots(core, service, self.now_us)

    def overdraft_lot(self, account_id: str) -> LotState | None:
        for lot in self.wallet_lots(account_id):
            if lot.source == lotlib.OVERDRAFT:
                return lot
        return None

    def plan_debit(self, acct: Acct, amount: int, service: str | None) -> lotlib.DrawPlan:
        """Lots that pay `amount` from a wallet; Declined when they (and its credit line) can't.

        The same plan as `lotlib.plan_draw` over the wallet's lots, walking the spend order
        this working set keeps per wallet and service."""
        plan = lotlib.draw_in_order(self._spend_order(acct.account_id, service), amount)
        if plan.shortfall:
            core = [lot.core() for lot in self.wallet_lots(acct.account_id)]
            floor = acct.floor if acct.floor is not None else 0
            owed = self.overdraft_lot(acct.account_id)
            owed_now = owed.remaining if owed else 0
            room = plan.covered + owed_now - floor  # what the credit line still allows
            if floor >= 0 or room < amount:
                held = lotlib.available_from_lots(core, service, self.now_us) + owed_now
                raise too_few_credits(acct.member_id, acct.asset, held, amount, acct.floor)
        return plan

    def _spend_order(self, account_id: str, service: str | None) -> list[LotState]:
        """The wallet's lots that may pay for `service`, in spend order, empty ones included.

        `lotlib.spendable` without its `remaining > 0` filter, which the draw applies. A lot's
        place in the order never changes (only what is left in it does) and `now_us` is fixed,
        so a batch works the order out once per wallet and service, again only when the wallet
        gains a lot."""
        mine = self.wallet_lots(account_id)
        key = (account_id, service)
        cached = self._spend_orders.get(key)
        if cached is not None and cached[0] == len(mine):
            return cached[1]
        order = [lot for lot in mine if lotlib.may_pay(lot, service, self.now_us)]
        order.sort(key=lambda lot: lotlib.spend_order_key(lot.core(), service))
        self._spend_orders[key] = (len(mine), order)
        return order

    # ---- applying ----

    def draw(self, draft: TransferDraft, acct: Acct, amount: int, plan: lotlib.DrawPlan) -> None:
        """Debit a wallet by the lots of `plan`, and the rest from its credit line."""
        draft.lot_moves.extend(self._take(acct, plan))
        draft.add(acct.account_id, -amount)

    def _take(self, acct: Acct, plan: lotlib.DrawPlan) -> list[tuple[str, str, int]]:
        """Take the plan's credits out of the wallet's lots: the lot moves, one per lot."""
        moves = []
        for lot_id, take in plan.draws:
            lot = self.lots[lot_id]
            lot.remaining -= take
            lot.dirty = True
            moves.append((acct.account_id, lot_id, -take))
        if plan.shortfall:
            # A credit line repaid to zero keeps its drained lot (live reads skip it): reuse it.
            spec = LotSpec(source=lotlib.OVERDRAFT)
            owed = (self.overdraft_lot(acct.account_id)
                    or self.merge_lot(acct.account_id, spec.merge_key() or "")
                    or self._new_lot(acct, spec, 0))
            owed.remaining -= plan.shortfall
            owed.dirty = True
            moves.append((acct.account_id, owed.id, -plan.shortfall))
        return moves

    def pay(self, header: Header, wallet: Acct, amount: int, plan: lotlib.DrawPlan,
            to: Acct) -> TransferResult:
        """A two-leg transfer from a wallet, by the lots of `plan`, to `to` (no lot credited):
        what `draw`, `draft.add(to)` and `commit_transfer` make, without building a draft
        (a batch of plain spends makes one per item)."""
        invariant(amount > 0 and to.account_id != wallet.account_id,
                  "a payment moves credits from a wallet to another account")
        # The plan's lots are distinct and never the overdraft lot: no move merges with another.
        return self._seal(header, header.asset,
                          [(wallet.account_id, -amount), (to.account_id, amount)],
                          self._take(wallet, plan), wallet)

    def credit(self, draft: TransferDraft, acct: Acct, amount: int, spec: LotSpec) -> None:
        """Credit a wallet: repay its credit line first, then a new (or merged) lot."""
        invariant(acct.kind == "wallet", "lots are for wallets")
        if acct.account_id in self.unlocked:
            self._credit_unlocked(draft, acct, amount, spec)
            return
        self.load_credit_lots([acct.account_id])
        left = amount
        owed = self.overdraft_lot(acct.account_id)
        if owed is not None and owed.remaining < 0:
            repay = min(-owed.remaining, left)
            owed.remaining += repay
            owed.dirty = True
            draft.move_lot(acct.account_id, owed.id, repay)
            left -= repay
        if left:
            key = spec.merge_key()
            lot = self.merge_lot(acct.account_id, key) if key is not None else None
            if lot is None:
                lot = self._new_lot(acct, spec, left)
            else:
                lot.amount += left
                lot.cost_minor += spec.cost_minor  # a paid piece brings its cost basis
                lot.dirty = True
            lot.remaining += left
            draft.move_lot(acct.account_id, lot.id, left)
        draft.add(acct.account_id, amount)

    def _credit_unlocked(self, draft: TransferDraft, acct: Acct, amount: int,
                         spec: LotSpec) -> None:
        """`credit` to a wallet read without its lock: it owes nothing (`preload` checked, and
        `CREDIT_POSTING` checks again), so all of `amount` goes to its merge lot (`ADD_TO_LOT`
        adds to the row), or to a new one (two writes making it meet on its unique key)."""
        key = spec.merge_key()
        lot = self.merge_lot(acct.account_id, key) if key is not None else None
        if lot is None:
            lot = self._new_lot(acct, spec, amount)
        else:
            if not lot.new:  # the row is added to; a lot this write makes is inserted whole
                add = self.unlocked_lot_adds.setdefault(lot.id, [0, 0])
                add[0] += amount
                add[1] += spec.cost_minor
            lot.amount += amount
            lot.cost_minor += spec.cost_minor
        lot.remaining += amount
        draft.move_lot(acct.account_id, lot.id, amount)
        draft.add(acct.account_id, amount)

    def restore(self, draft: TransferDraft, account_id: str, lot_id: str, amount: int) -> None:
        """Put credits back into (positive) or take them out of (negative) one named lot."""
        lot = self.lot(lot_id)
        invariant(lot.account_id == account_id, "a lot moves only within its own account")
        lot.remaining += amount
        if amount > 0 and lot.merge_key is not None and lot.remaining > lot.amount:
            lot.amount = lot.remaining
        lot.dirty = True
        draft.move_lot(account_id, lot_id, amount)

    def lot(self, lot_id: str) -> LotState:
        """A lot of a loaded (locked) account, read from the database if it was drained."""
        lot = self.lots.get(lot_id)
        if lot is None:
            row = self.db.first(q.SELECT_LOT, {"c": self.community_id, "lot": lot_id})
            invariant(row is not None, f"no lot {lot_id}")
            lot = self._add_lot(q.lot(row))  # type: ignore[arg-type]
            invariant(lot.account_id in self.accounts, "a lot is read only under its account")
        return lot

    def _new_lot(self, acct: Acct, spec: LotSpec, amount: int) -> LotState:
        lot = LotState(
            id=new_id(), account_id=acct.account_id, source=spec.source, paid=spec.paid,
            cost_minor=spec.cost_minor, cost_currency=spec.cost_currency, amount=amount,
            remaining=0, expires_at_us=spec.expires_at_us, priority=spec.priority,
            scope=spec.scope, merge_key=spec.merge_key(), origin_transfer_id="",
            created_at_us=self.now_us, new=True, dirty=True)
        self.lots[lot.id] = lot
        self.lots_by_account.setdefault(acct.account_id, []).append(lot)
        return lot

    def commit_transfer(self, header: Header, draft: TransferDraft,
                        primary: Acct | None = None) -> TransferResult:
        """Seal a built transfer into rows: postings, lot moves, balances and its hash."""
        lot_moves = draft.lot_moves
        if len(lot_moves) > 1:  # moves of one lot merge into one row
            merged: dict[tuple[str, str], int] = {}
            for account_id, lot_id, amount in lot_moves:
                merged[(account_id, lot_id)] = merged.get((account_id, lot_id), 0) + amount
            lot_moves = [(a, lot_id, amount) for (a, lot_id), amount in merged.items()]
        return self._seal(header, draft.asset, draft.balanced_legs(), lot_moves, primary)

    def _seal(self, header: Header, asset: str, legs: list[tuple[str, int]],
              lot_moves: list[tuple[str, str, int]], primary: Acct | None) -> TransferResult:
        """Rows, balances, hash and answer of a transfer: `legs` balanced, one move per lot."""
        transfer_id = new_id()
        c = self.community_id
        accounts_ = self.accounts
        posting_rows = self.posting_rows
        posting_infos: list[PostingInfo] = []
        moved = 0
        for account_id, amount in legs:
            if amount > 0:
                moved += amount
            acct = accounts_.get(account_id)
            if acct is None:
                raise InvariantViolation(f"posting to an account not loaded: {account_id}")
            if acct.asset != asset:
                raise InvariantViolation(
                    f"asset {asset} posted to {acct.account_id} of {acct.asset}")
            balance_after = None
            version = None
            if account_id in self.unlocked:  # its balance comes with the row's lock, at flush
                if amount <= 0:
                    raise InvariantViolation(f"{account_id} was read only to be credited")
                self.unlocked_postings.append({"c": c, "t": transfer_id, "a": account_id,
                                               "amount": amount})
                posting_infos.append(trusted(PostingInfo, {
                    "account_id": account_id, "amount": amount, "balance_after": None}))
                continue
            if acct.tracked:
                acct.posted += amount
                acct.version += 1
                acct.dirty = True
                if acct.floor is not None and acct.posted - acct.pending < acct.floor:
                    raise InvariantViolation(f"{acct.account_id} would go under its floor")
                balance_after, version = acct.posted, acct.version
            posting_rows.append({
                "community_id": c, "transfer_id": transfer_id, "account_id": account_id,
                "amount": amount, "balance_after": balance_after, "account_version": version})
            posting_infos.append(trusted(PostingInfo, {
                "account_id": account_id, "amount": amount, "balance_after": balance_after}))
        moves: list[LotMoveInfo] = []
        hashed_moves: list[tuple[int, str, int]] = []
        for account_id, lot_id, amount in lot_moves:
            if amount == 0:
                continue
            lot = self.lots.get(lot_id)
            if lot is not None and lot.new and not lot.origin_transfer_id:
                lot.origin_transfer_id = transfer_id
            self.posting_lot_rows.append({
                "community_id": c, "transfer_id": transfer_id, "lot_id": lot_id,
                "account_id": account_id, "amount": amount})
            moves.append(trusted(LotMoveInfo, {
                "lot_id": lot_id, "account_id": account_id, "amount": amount}))
            hashed_moves.append((0, lot_id, amount))
        kind = header.kind.value
        row = {
            "community_id": c, "transfer_id": transfer_id, "kind": kind, "asset": asset,
            "member_id": header.member_id, "service": header.service,
            "reverses_id": header.reverses_id, "hold_id": header.hold_id,
            "actor": header.actor, "reason_code": header.reason_code, "memo": header.memo,
            "metadata_json": metadata_json(header.metadata),
            "idempotency_key": header.idempotency_key, "effective_at_us": self.now_us,
        }
        row["hash"] = transfer_hash(row, [(0, a, amt) for a, amt in legs], hashed_moves)
        self.transfer_rows.append(row)
        result = trusted(TransferResult, {
            "id": transfer_id, "kind": kind, "asset": asset,
            "amount": moved, "member_id": header.member_id,
            "service": header.service, "reverses_id": header.reverses_id,
            "hold_id": header.hold_id, "postings": posting_infos, "lots": moves,
            "actor": header.actor, "reason_code": header.reason_code, "memo": header.memo,
            "metadata": header.metadata, "effective_at": self.effective_at,
            "balance_after": primary.posted if primary is not None else None,
            "replayed": False})
        self.results.append(result)
        return result

    def remember_key(self, key: str, operation: str, req_hash: str, response_json: str) -> None:
        self.key_rows.append({
            "community_id": self.community_id, "key": key, "operation": operation,
            "request_hash": req_hash, "response_json": response_json,
            "created_at_us": self.now_us})

    def emit(self, type_: str, member_id: str | None, payload: dict[str, Any]) -> None:
        """An event in the outbox, committed with the change it describes."""
        self.event_rows.append({
            "community_id": self.community_id, "event_id": new_id(), "type": type_,
            "member_id": member_id, "payload_json": json.dumps(payload, default=str),
            "created_at_us": self.now_us})

    # ---- writing (services/ledger/flush.py) ----

    flush = flushing.flush
