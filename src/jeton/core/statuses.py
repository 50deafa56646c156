"""Outcomes of a write, as values.

Expected failures (not enough credits, a replayed key with another request, an expired hold) are
statuses returned per item, also in batches. Members are ordered by precedence: when a request
has several faults, the first in this list is the one reported (bad input before missing things
before business declines).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    ok = "ok"
    # The request itself is malformed.
    amount_invalid = "amount_invalid"
    amount_too_large = "amount_too_large"
    id_invalid = "id_invalid"
    metadata_too_large = "metadata_too_large"
    expiry_invalid = "expiry_invalid"
    split_invalid = "split_invalid"
    catalog_invalid = "catalog_invalid"
    batch_too_large = "batch_too_large"
    value_invalid = "value_invalid"
    # Something named does not exist.
    community_not_found = "community_not_found"
    asset_not_found = "asset_not_found"
    service_not_found = "service_not_found"
    member_not_found = "member_not_found"
    account_not_found = "account_not_found"
    hold_not_found = "hold_not_found"
    transfer_not_found = "transfer_not_found"
    not_found = "not_found"
    # The request conflicts with what is stored.
    idempotency_conflict = "idempotency_conflict"
    already_exists = "already_exists"
    asset_mismatch = "asset_mismatch"
    same_account = "same_account"
    hold_not_active = "hold_not_active"
    hold_expired = "hold_expired"
    capture_exceeds_hold = "capture_exceeds_hold"
    already_reversed = "already_reversed"
    not_reversible = "not_reversible"
    test_mode_required = "test_mode_required"  # a live community's clock is the real time
    clock_backwards = "clock_backwards"  # a test clock only moves forward
    clock_advancing = "clock_advancing"  # another advance of the test clock is under way
    conflict = "conflict"
    # The ledger says no.
    insufficient_credits = "insufficient_credits"
    limit_exceeded = "limit_exceeded"
    velocity_limit_exceeded = "velocity_limit_exceeded"  # spent too much this hour or day
    wallet_frozen = "wallet_frozen"  # staff stopped the wallet: nothing may leave it
    credit_line_suspended = "credit_line_suspended"  # a post-pay bill is past due
    key_budget_exceeded = "key_budget_exceeded"  # the API key spent its budget for the period
    reversal_insufficient = "reversal_insufficient"
    forbidden = "forbidden"
    declined = "declined"
    # The HTTP layer refuses before the ledger is asked (jeton.api).
    unauthenticated = "unauthenticated"
    scope_missing = "scope_missing"
    rate_limited = "rate_limited"
    request_too_large = "request_too_large"
    request_in_flight = "request_in_flight"
    method_not_allowed = "method_not_allowed"
    unavailable = "unavailable"
    internal_error = "internal_error"
