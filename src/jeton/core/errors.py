"""The one exception tree of Jeton.

    JetonError                      every error Jeton raises on purpose
    ├── InvalidRequest              the request is malformed; nothing was written (HTTP 400/422)
    ├── NotFound                    something named does not exist (HTTP 404)
    ├── Conflict                    the request conflicts with stored state (HTTP 409)
    │   └── IdempotencyConflict     a key was reused with a different request (HTTP 422)
    ├── Declined                    the ledger refuses: not enough credits, a limit (HTTP 402/403)
    │   ├── InsufficientCredits     available balance is below the amount required (HTTP 402)
    │   ├── VelocityLimitExceeded   the member spent their hour's or day's limit (HTTP 403);
    │   │                           `retry_after` says when it frees up
    │   ├── KeyBudgetExceeded       the API key acting spent its budget for the period, overall
    │   │                           or for this member (HTTP 403); `retry_after` as above
    │   ├── WalletFrozen            staff froze the wallet: no spend, charge, transfer out or
    │   │                           purchase until it is unfrozen (HTTP 403)
    │   └── CreditLineSuspended     a post-pay bill is past due: the member's credit line lends
    │                               nothing until it is paid (HTTP 402)
    └── InvariantViolation          a bug: an invariant of the ledger does not hold (HTTP 500)

Every error carries a `status` (jeton.core.statuses.Status), a human `detail`, and `extra`
fields that help the caller fix the request (balance, required, ...). Batch writes return the
status per item instead of raising.
"""

from __future__ import annotations

from typing import Any

from jeton.core.statuses import Status


class JetonError(Exception):
    status: Status = Status.declined

    def __init__(self, detail: str, *, status: Status | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.extra = extra

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status.value}: {self.detail})"


class InvalidRequest(JetonError):
    status = Status.value_invalid


class NotFound(JetonError):
    status = Status.not_found


class Conflict(JetonError):
    status = Status.conflict


class IdempotencyConflict(Conflict):
    status = Status.idempotency_conflict


class Declined(JetonError):
    status = Status.declined


class InsufficientCredits(Declined):
    status = Status.insufficient_credits


class VelocityLimitExceeded(Declined):
    status = Status.velocity_limit_exceeded


class KeyBudgetExceeded(Declined):
    status = Status.key_budget_exceeded


class WalletFrozen(Declined):
    status = Status.wallet_frozen


class CreditLineSuspended(Declined):
    status = Status.credit_line_suspended


class InvariantViolation(JetonError):
    """Raised when the ledger finds itself in a state it must never be in. Always a bug."""

    status = Status.conflict


_BY_STATUS: dict[Status, type[JetonError]] = {
    Status.amount_invalid: InvalidRequest,
    Status.amount_too_large: InvalidRequest,
    Status.id_invalid: InvalidRequest,
    Status.metadata_too_large: InvalidRequest,
    Status.expiry_invalid: InvalidRequest,
    Status.split_invalid: InvalidRequest,
    Status.catalog_invalid: InvalidRequest,
    Status.batch_too_large: InvalidRequest,
    Status.value_invalid: InvalidRequest,
    Status.community_not_found: NotFound,
    Status.asset_not_found: NotFound,
    Status.service_not_found: NotFound,
    Status.member_not_found: NotFound,
    Status.account_not_found: NotFound,
    Status.hold_not_found: NotFound,
    Status.transfer_not_found: NotFound,
    Status.not_found: NotFound,
    Status.idempotency_conflict: IdempotencyConflict,
    Status.already_exists: Conflict,
    Status.asset_mismatch: InvalidRequest,
    Status.same_account: InvalidRequest,
    Status.hold_not_active: Conflict,
    Status.hold_expired: Conflict,
    Status.capture_exceeds_hold: InvalidRequest,
    Status.already_reversed: Conflict,
    Status.not_reversible: Conflict,
    Status.test_mode_required: Conflict,
    Status.clock_backwards: Conflict,
    Status.clock_advancing: Conflict,
    Status.conflict: Conflict,
    Status.insufficient_credits: InsufficientCredits,
    Status.limit_exceeded: Declined,
    Status.velocity_limit_exceeded: VelocityLimitExceeded,
    Status.wallet_frozen: WalletFrozen,
    Status.credit_line_suspended: CreditLineSuspended,
    Status.key_budget_exceeded: KeyBudgetExceeded,
    Status.reversal_insufficient: Declined,
    Status.forbidden: Declined,
    Status.declined: Declined,
    # Refusals of the HTTP layer that a caller can act on like the ledger's own; the others
    # (unauthenticated, scope_missing, rate_limited, ...) are plain JetonErrors.
    Status.request_in_flight: Conflict,
    Status.request_too_large: InvalidRequest,
    Status.method_not_allowed: InvalidRequest,
}


def error_for(status: Status, detail: str, **extra: Any) -> JetonError:
    """The exception that stands for a failed status."""
    cls = _BY_STATUS.get(status, JetonError)
    return cls(detail, status=status, **extra)


def invariant(condition: bool, message: str) -> None:
    """Check an invariant. Unlike `assert`, this runs under `python -O` too."""
    if not condition:
        raise InvariantViolation(message)
