"""Hypothesis plays a community against a simple model of what the ledger must do.

The model keeps each member's lots as plain lists and spends them in the documented order
(soonest expiry, free before paid, oldest). After every step: balances agree with the model,
and every invariant `jeton verify` knows holds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

import jeton
from jeton.core.clock import ManualClock
from jeton.services.ledger.verify import verify
from jeton.store.engine import Store

MEMBERS = ["ann", "ben", "cat"]
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class MLot:
    seq: int
    remaining: int
    paid: bool
    expires: datetime | None

    def order(self) -> tuple[datetime, int, int]:
        return (self.expires or NEVER, int(self.paid), self.seq)


@dataclass
class MHold:
    member: str
    amount: int
    captured: int = 0
    expires: datetime = NEVER
    open: bool = True


@dataclass
class Model:
    lots: dict[str, list[MLot]] = field(default_factory=lambda: {m: [] for m in MEMBERS})
    holds: dict[str, MHold] = field(default_factory=dict)
    revenue: int = 0
    breakage: int = 0
    spends: dict[str, tuple[str, list[tuple[MLot, int]]]] = field(default_factory=dict)

    def live(self, member: str, now: datetime) -> list[MLot]:
        return sorted((x for x in self.lots[member]
                       if x.remaining > 0 and (x.expires is None or x.expires > now)),
                      key=MLot.order)

    def available(self, member: str, now: datetime) -> int:
        return sum(x.remaining for x in self.live(member, now))

    def draw(self, member: str, amount: int, now: datetime) -> list[tuple[MLot, int]]:
        taken = []
        for lot in self.live(member, now):
            if amount == 0:
                break
            take = min(lot.remaining, amount)
            lot.remaining -= take
            amount -= take
            taken.append((lot, take))
        assert amount == 0
        return taken


amounts = st.integers(min_value=1, max_value=60)
members = st.sampled_from(MEMBERS)


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")
    spends = Bundle("spends")

    @initialize()
    def setup(self) -> None:
        self.clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
        self.store = Store("sqlite://")
        self.store.create_schema()
        self.chat = jeton.Jeton(self.store, clock=self.clock).create_community("m", "m")
        for m in MEMBERS:
            self.chat.create_member(m)
        self.model = Model()
        self.seq = itertools.count()
        self.last: tuple[str, tuple[object, ...], dict[str, object], object] | None = None

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.store.dispose()

    def key(self) -> str:
        return f"k{next(self.seq)}"

    @rule(member=members, amount=amounts, paid=st.booleans(),
          days=st.none() | st.integers(min_value=1, max_value=40))
    def grant(self, member: str, amount: int, paid: bool, days: int | None) -> None:
        now = self.clock.now()
        expires = now + timedelta(days=days) if days else None
        kwargs = {"idempotency_key": self.key(), "paid": paid,
                  "cost_minor": amount * 3 if paid else 0, "expires_at": expires}
        result = self.chat.grant(member, amount, **kwargs)  # type: ignore[arg-type]
        self.model.lots[member].append(MLot(next(self.seq), amount, paid, expires))
        self.last = ("grant", (member, amount), kwargs, result)

    @rule(target=spends, member=members, amount=amounts)
    def spend(self, member: str, amount: int) -> str:
        now = self.clock.now()
        self._release_expired_holds(member)
        key = self.key()
        if self.model.available(member, now) < amount:
            with pytest.raises(jeton.InsufficientCredits) as err:
                self.chat.spend(member, amount, idempotency_key=key)
            assert err.value.extra["required"] == amount
            return ""
        result = self.chat.spend(member, amount, idempotency_key=key)
        self.model.spends[result.id] = (member, self.model.draw(member, amount, now))
        self.model.revenue += amount
        self.last = ("spend", (member, amount), {"idempotency_key": key}, result)
        return result.id

    @rule(a=members, b=members, amount=amounts)
    def transfer(self, a: str, b: str, amount: int) -> None:
        now = self.clock.now()
        if a == b:
            return
        if self.model.available(a, now) < amount:
            try:
                self.chat.transfer(a, b, amount, idempotency_key=self.key())
            except jeton.InsufficientCredits:
                return
            raise AssertionError("the model expected a decline")
        self.chat.transfer(a, b, amount, idempotency_key=self.key())
        for lot, take in self.model.draw(a, amount, now):
            self.model.lots[b].append(MLot(next(self.seq), take, lot.paid, lot.expires))

    @rule(target=holds, member=members, amount=amounts,
          timeout=st.sampled_from([60, 3600, 86400 * 3]))
    def hold(self, member: str, amount: int, timeout: int) -> str:
        now = self.clock.now()
        self._release_expired_holds(member)
        if self.model.available(member, now) < amount:
            try:
                self.chat.hold(member, amount, idempotency_key=self.key(), timeout_s=timeout)
            except jeton.InsufficientCredits:
                return ""
            raise AssertionError("the model expected a decline")
        result = self.chat.hold(member, amount, idempotency_key=self.key(), timeout_s=timeout)
        taken = self.model.draw(member, amount, now)
        self.model.holds[result.id] = MHold(member, amount, expires=result.expires_at)
        self._reserved[result.id] = taken
        return result.id

    @property
    def _reserved(self) -> dict[str, list[tuple[MLot, int]]]:
        if not hasattr(self, "_reserved_map"):
            self._reserved_map: dict[str, list[tuple[MLot, int]]] = {}
        return self._reserved_map

    def _use(self, hold_id: str, amount: int) -> None:
        # Captures use the reserved lots front to back; release gives back the rest from the end.
        reserved = self._reserved[hold_id]
        kept = []
        for lot, take in reserved:
            use = min(take, amount)
            amount -= use
            if take - use:
                kept.append((lot, take - use))
        self._reserved[hold_id] = kept

    def _release_expired_holds(self, member: str) -> None:
        """A spend or hold that would decline first releases this member's expired holds."""
        now = self.clock.now()
        for hold_id, h in self.model.holds.items():
            if h.member == member and h.open and h.expires <= now:
                self._release_rest(hold_id)

    def _release_rest(self, hold_id: str) -> None:
        for lot, take in self._reserved[hold_id]:
            lot.remaining += take
        self._reserved[hold_id] = []
        self.model.holds[hold_id].open = False

    @rule(hold_id=consumes(holds), data=st.data())
    def capture(self, hold_id: str, data: st.DataObject) -> None:
        if not hold_id:
            return
        h = self.model.holds[hold_id]
        if not h.open or h.expires <= self.clock.now():
            try:
                self.chat.capture(hold_id, 1, idempotency_key=self.key())
            except jeton.Conflict:
                return
            raise AssertionError("capture of a closed or expired hold went through")
        amount = data.draw(st.integers(min_value=1, max_value=h.amount - h.captured))
        final = data.draw(st.booleans())
        result = self.chat.capture(hold_id, amount, final=final, idempotency_key=self.key())
        self._use(hold_id, amount)
        h.captured += amount
        self.model.revenue += amount
        if final or h.captured == h.amount:
            self._release_rest(hold_id)
        assert result.captured == h.captured

    @rule(hold_id=consumes(holds))
    def void(self, hold_id: str) -> None:
        if not hold_id:
            return
        h = self.model.holds[hold_id]
        if not h.open:
            return
        self.chat.void(hold_id, idempotency_key=self.key())
        self._release_rest(hold_id)

    @rule(spend_id=consumes(spends))
    def reverse(self, spend_id: str) -> None:
        if not spend_id:
            return
        _, taken = self.model.spends.pop(spend_id)
        self.chat.reverse(spend_id, idempotency_key=self.key())
        for lot, take in taken:
            lot.remaining += take
        self.model.revenue -= sum(t for _, t in taken)

    @rule(days=st.integers(min_value=1, max_value=15))
    def time_passes_and_jobs_run(self, days: int) -> None:
        self.clock.advance(days=days)
        now = self.clock.now()
        self._run_expiry(now)
        for hold_id, h in self.model.holds.items():
            if h.open and h.expires <= now:
                self._release_rest(hold_id)
        # Lots set aside by holds that expired come back already expired: the job sweeps them.
        self._run_expiry(now)

    def _run_expiry(self, now: datetime) -> None:
        """Run the expiry job; in the model, what is left of every lot due by `now` breaks."""
        self.chat.run_expiry()
        for member in MEMBERS:
            for lot in self.model.lots[member]:
                if lot.expires is not None and lot.expires <= now and lot.remaining > 0:
                    self.model.breakage += lot.remaining
                    lot.remaining = 0

    @precondition(lambda self: getattr(self, "last", None) is not None)
    @rule()
    def replay_the_last_write(self) -> None:
        assert self.last is not None
        op, args, kwargs, first = self.last
        before = {m: self.chat.balance(m).posted for m in MEMBERS}
        again = getattr(self.chat, op)(*args, **kwargs)
        assert again.replayed
        assert again.model_copy(update={"replayed": False}) == first
        assert before == {m: self.chat.balance(m).posted for m in MEMBERS}

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        now = self.clock.now()
        for m in MEMBERS:
            bal = self.chat.balance(m)
            in_lots = sum(x.remaining for x in self.model.lots[m])
            held = sum(h.amount - h.captured for h in self.model.holds.values()
                       if h.member == m and h.open)
            assert bal.posted == in_lots + held, (m, bal, in_lots, held)
            assert bal.pending == held
            assert bal.available == self.model.available(m, now), (m, bal)
        assert self.chat.account_balance("revenue").posted == self.model.revenue
        assert self.chat.account_balance("breakage").posted == self.model.breakage

    @invariant()
    def every_invariant_holds(self) -> None:
        if hasattr(self, "store"):
            found = verify(self.store)
            assert not found, found


LedgerMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestLedgerAgainstModel = LedgerMachine.TestCase
