"""The in-process Python API: `jeton.open(url)` and a community's methods.

    import jeton
    j = jeton.open("sqlite:///jeton.db")
    chat = j.create_community("Chat room", community_id="chat")
    chat.create_member("alice")
    chat.grant("alice", 100, idempotency_key="welcome-alice")
    chat.spend("alice", 3, service="files.download", idempotency_key="dl-1")

`jeton.Client(base_url, api_key)` has the same methods and result types over HTTP, so code
moves from embedded to remote by changing the line that makes the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jeton.config import Settings
from jeton.core import limits
from jeton.core.clock import Clock, SystemClock
from jeton.services.ledger import Ledger
from jeton.services.results import (
    AccountInfo,
    AssetInfo,
    Balance,
    BatchItem,
    CommunityInfo,
    HoldResult,
    LotInfo,
    MemberInfo,
    Page,
    SpendRequest,
    Split,
    StatementLine,
    TransferResult,
)
from jeton.store.engine import Store


class Jeton:
    """One Jeton over one store: communities and the services that act on them."""

    def __init__(self, store: Store, *, clock: Clock | None = None,
                 settings: Settings | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or Settings.from_env()
        self.ledger = Ledger(store, self.clock)

    def create_community(self, name: str, community_id: str | None = None, *,
                         asset: str = "CREDIT", scale: int = 0) -> Community:
        """A community with its first asset (credits by default, whole units)."""
        info = self.ledger.create_community(name, community_id)
        self.ledger.create_asset(info.id, asset, scale)
        return Community(self, info.id, asset=asset)

    def community(self, community_id: str, *, asset: str = "CREDIT") -> Community:
        self.ledger.get_community(community_id)
        return Community(self, community_id, asset=asset)

    def communities(self) -> list[CommunityInfo]:
        return self.ledger.list_communities()

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> Jeton:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Community:
    """Everything a host app does for one community. `asset` is the default for calls."""

    def __init__(self, jeton: Jeton, community_id: str, *, asset: str = "CREDIT") -> None:
        self.jeton = jeton
        self.id = community_id
        self.asset = asset
        self._ledger = jeton.ledger

    def __repr__(self) -> str:
        return f"Community({self.id!r})"

    # ---- setup ----

    def info(self) -> CommunityInfo:
        return self._ledger.get_community(self.id)

    def create_asset(self, code: str, scale: int = 0, name: str = "") -> AssetInfo:
        return self._ledger.create_asset(self.id, code, scale, name)

    def assets(self) -> list[AssetInfo]:
        return self._ledger.list_assets(self.id)

    def create_account(self, name: str, *, asset: str | None = None) -> AccountInfo:
        return self._ledger.create_account(self.id, name, asset or self.asset)

    def create_member(self, member_id: str, *, name: str = "", email: str | None = None,
                      metadata: dict[str, Any] | None = None) -> MemberInfo:
        return self._ledger.create_member(self.id, member_id, name=name, email=email,
                                          metadata=metadata)

    def get_member(self, member_id: str) -> MemberInfo:
        return self._ledger.get_member(self.id, member_id)

    def list_members(self, *, limit: int = limits.page_size_default,
                     starting_after: str | None = None,
                     search: str | None = None) -> Page[MemberInfo]:
        return self._ledger.list_members(self.id, limit=limit, starting_after=starting_after,
                                         search=search)

    def set_credit_line(self, member_id: str, floor: int, *, asset: str | None = None) -> Balance:
        return self._ledger.set_credit_line(self.id, member_id, asset or self.asset, floor)

    # ---- credits ----

    def grant(self, member_id: str, amount: int, *, idempotency_key: str,
              asset: str | None = None, source: str = "grant", paid: bool = False,
              cost_minor: int = 0, cost_currency: str | None = None,
              expires_at: datetime | None = None, priority: int = 0, scope: str | None = None,
              actor: str = "system", reason_code: str = "grant", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        return self._ledger.grant(
            self.id, member_id, amount, idempotency_key=idempotency_key,
            asset=asset or self.asset, source=source, paid=paid, cost_minor=cost_minor,
            cost_currency=cost_currency, expires_at=expires_at, priority=priority, scope=scope,
            actor=actor, reason_code=reason_code, memo=memo, metadata=metadata)

    def spend(self, member_id: str, amount: int, *, idempotency_key: str,
              asset: str | None = None, service: str | None = None,
              splits: Sequence[Split | dict[str, Any]] = (), actor: str = "system",
              reason_code: str = "spend", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        return self._ledger.spend(
            self.id, member_id, amount, idempotency_key=idempotency_key,
            asset=asset or self.asset, service=service, splits=splits, actor=actor,
            reason_code=reason_code, memo=memo, metadata=metadata)

    def spend_batch(self, items: Sequence[SpendRequest | dict[str, Any]], *,
                    actor: str = "system") -> list[BatchItem]:
        return self._ledger.spend_batch(self.id, items, actor=actor)

    def transfer(self, from_member: str, to_member: str, amount: int, *, idempotency_key: str,
                 asset: str | None = None, fee: int = 0, actor: str = "system",
                 memo: str = "", metadata: dict[str, Any] | None = None) -> TransferResult:
        return self._ledger.transfer(
            self.id, from_member, to_member, amount, idempotency_key=idempotency_key,
            asset=asset or self.asset, fee=fee, actor=actor, memo=memo, metadata=metadata)

    def hold(self, member_id: str, amount: int, *, idempotency_key: str,
             asset: str | None = None, service: str | None = None,
             timeout_s: int = limits.hold_timeout_s_default, actor: str = "system",
             metadata: dict[str, Any] | None = None) -> HoldResult:
        return self._ledger.hold(self.id, member_id, amount, idempotency_key=idempotency_key,
                                 asset=asset or self.asset, service=service,
                                 timeout_s=timeout_s, actor=actor, metadata=metadata)

    def capture(self, hold_id: str, amount: int, *, idempotency_key: str, final: bool = True,
                splits: Sequence[Split | dict[str, Any]] = (), actor: str = "system",
                memo: str = "") -> HoldResult:
        return self._ledger.capture(self.id, hold_id, amount, idempotency_key=idempotency_key,
                                    final=final, splits=splits, actor=actor, memo=memo)

    def void(self, hold_id: str, *, idempotency_key: str, actor: str = "system") -> HoldResult:
        return self._ledger.void(self.id, hold_id, idempotency_key=idempotency_key, actor=actor)

    def get_hold(self, hold_id: str) -> HoldResult:
        return self._ledger.get_hold(self.id, hold_id)

    def reverse(self, transfer_id: str, *, idempotency_key: str, actor: str = "system",
                reason_code: str = "reversal", memo: str = "") -> TransferResult:
        return self._ledger.reverse(self.id, transfer_id, idempotency_key=idempotency_key,
                                    actor=actor, reason_code=reason_code, memo=memo)

    # ---- reads ----

    def balance(self, member_id: str, *, asset: str | None = None) -> Balance:
        return self._ledger.balance(self.id, member_id, asset or self.asset)

    def account_balance(self, account: str, *, asset: str | None = None) -> Balance:
        """A system or named account: `revenue`, `breakage`, `appstore`..."""
        from jeton.services.workset import system_id

        return self._ledger.account_balance(self.id, system_id(account, asset or self.asset))

    def lots(self, member_id: str, *, asset: str | None = None,
             include_empty: bool = False) -> list[LotInfo]:
        return self._ledger.lots(self.id, member_id, asset or self.asset,
                                 include_empty=include_empty)

    def statement(self, member_id: str, *, asset: str | None = None,
                  limit: int = limits.page_size_default,
                  starting_after: str | None = None) -> Page[StatementLine]:
        return self._ledger.statement(self.id, member_id, asset or self.asset, limit=limit,
                                      starting_after=starting_after)

    def get_transfer(self, transfer_id: str) -> TransferResult:
        return self._ledger.get_transfer(self.id, transfer_id)

    # ---- jobs (normally run by `jeton worker` / `jeton serve`) ----

    def run_expiry(self) -> int:
        """Expire lots and holds that are due now. Returns how many were expired."""
        return self._ledger.expire_lots(self.id) + self._ledger.expire_holds(self.id)


def open(url: str | None = None, *, clock: Clock | None = None, migrate: bool = True,
         settings: Settings | None = None) -> Jeton:
    """Open Jeton on a store (`sqlite:///jeton.db`, `postgresql://...`; default from
    JETON_DATABASE_URL). With `migrate` (the default) the schema is brought up to date."""
    from jeton.store.engine import open_store

    store = open_store(url)
    if migrate:
        store.create_schema()
    return Jeton(store, clock=clock, settings=settings)
