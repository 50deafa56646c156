"""Rewards: credits a service posts to a member for doing something (a poll completed: +5).

A reward has a per-member limit per window (3 a day) so that a script filling polls cannot mint
credits without bound. Like allowances, this is the arithmetic: the services layer counts the
rewards a member already received in the window (under `window_key`) and passes the count in;
the credits come from the community's promotions account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jeton.core import limits
from jeton.core.allowances import Period, window_key
from jeton.core.amounts import positive_amount, service_code
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status


@dataclass(frozen=True, slots=True)
class Reward:
    code: str  # like a service code: `poll.completed`
    name: str
    credits: int  # posted to the member each time, at least 1
    limit: int  # rewards per member per window
    period: Period

    def __post_init__(self) -> None:
        service_code(self.code)
        if self.code.endswith(".*"):
            raise InvalidRequest(f"a reward code is not a pattern: {self.code!r}",
                                 status=Status.value_invalid)
        display_name(self.name)
        positive_amount(self.credits, "reward")
        if not isinstance(self.period, Period):
            raise InvalidRequest(f"period must be one of {[p.value for p in Period]}, "
                                 f"got {self.period!r}", status=Status.value_invalid)
        if type(self.limit) is not int or not 1 <= self.limit <= limits.quantity_max:
            raise InvalidRequest(f"a reward limit is 1-{limits.quantity_max} per "
                                 f"{self.period}, got {self.limit!r}", status=Status.value_invalid)


@dataclass(frozen=True, slots=True)
class RewardGrant:
    window: str  # the key under which the services layer counts this member's rewards
    status: Status  # ok, or limit_exceeded
    credits: int  # to post now (0 when the limit is reached)
    left_after: int  # rewards of this kind the member can still get in the window


def grant_reward(reward: Reward, received: int, now: datetime,
                 session_id: str | None = None) -> RewardGrant:
    """Whether a member who already received `received` of this reward in the window gets one
    more. A refusal is a status, not an exception: the host app posts rewards freely and a
    member at the limit is an expected outcome."""
    window = window_key(reward.period, now, session_id)
    if type(received) is not int or received < 0:
        raise InvalidRequest(f"rewards already received must be an integer 0 or more, "
                             f"got {received!r}", status=Status.value_invalid)
    if received >= reward.limit:
        return RewardGrant(window=window, status=Status.limit_exceeded, credits=0, left_after=0)
    return RewardGrant(window=window, status=Status.ok, credits=reward.credits,
                       left_after=reward.limit - received - 1)


def display_name(value: object, what: str = "name") -> str:
    """A name shown to people (a service's, a reward's): 1-100 characters, not blank."""
    if (not isinstance(value, str) or not value.strip()
            or len(value) > limits.display_name_chars_max):
        raise InvalidRequest(f"{what} must be 1-{limits.display_name_chars_max} characters, "
                             f"got {value!r}", status=Status.value_invalid)
    return value
