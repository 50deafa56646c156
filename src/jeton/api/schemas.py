"""Request bodies of the API. Responses are the services' result models (services/*/results.py).

Every body forbids fields it does not declare (`extra="forbid"`), so a request can never set
what it must not (the community, a balance, a key's owner). Numbers and booleans are strict: a
JSON string "5" or a float 5.0 is not an amount. Patterns and bounds repeat the services' checks
so that the OpenAPI schema tells clients the truth; the services check again.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from jeton.api.examples import add_example
from jeton.core import amounts, limits
from jeton.core.statuses import Status
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.results import SpendRequest, Split

# One source for each pattern: the checks of core.amounts.
EXTERNAL_ID_PATTERN = amounts._EXTERNAL_ID.pattern
ASSET_CODE_PATTERN = amounts._ASSET_CODE.pattern
SERVICE_PATTERN = amounts._SERVICE.pattern
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# Free text anywhere in a request: no NUL (PostgreSQL text cannot hold it).
TEXT_PATTERN = r"^[^\x00]*$"

ExternalId = Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN, max_length=64)]
AssetCode = Annotated[str, Field(pattern=ASSET_CODE_PATTERN, max_length=16)]
ServiceCode = Annotated[str, Field(pattern=SERVICE_PATTERN, max_length=100)]


def _amount(value: Any) -> int:
    """An amount as the in-process API checks it (core.amounts.positive_amount), with the same
    status as the error's type, so that the HTTP `code` is the in-process exception's status."""
    if type(value) is not int:  # JSON integers only: not "5", not 5.0, not true
        raise PydanticCustomError(Status.amount_invalid.value,
                                  "an amount is a whole number of minor units")
    if value > limits.amount_max:
        raise PydanticCustomError(Status.amount_too_large.value,
                                  "an amount is at most {amount_max}",
                                  {"amount_max": limits.amount_max})
    if value < 1:
        raise PydanticCustomError(Status.amount_invalid.value,
                                  "an amount is at least 1 minor unit")
    return value


Amount = Annotated[int, PlainValidator(_amount, json_schema_input_type=int),
                   WithJsonSchema({"type": "integer", "minimum": 1,
                                   "maximum": limits.amount_max})]
Name = Annotated[str, Field(max_length=200)]
Memo = Annotated[str, Field(max_length=limits.memo_chars_max)]
ReasonCode = Annotated[str, Field(max_length=limits.reason_code_chars_max)]
Metadata = Annotated[dict[str, Any], Field(description=f"Free-form JSON object, at most "
                                                       f"{limits.metadata_bytes_max} bytes.")]
# Who the host app acted for; the audit records the API key, then this.
Actor = Annotated[str | None, Field(default=None, min_length=1, max_length=64,
                                    description="Whom the host app acted for (recorded after "
                                                "the API key in the audit).")]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
IdempotencyKeyField = Annotated[str, Field(min_length=1,
                                           max_length=limits.idempotency_key_chars_max)]


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        value.encode("utf-8")  # lone surrogates cannot be stored
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k)
            _check_text(v)
    elif isinstance(value, list):
        for v in value:
            _check_text(v)


class Body(BaseModel):
    # Every request body shows an example in the API docs (api/examples.py).
    model_config = ConfigDict(extra="forbid", json_schema_extra=add_example)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        try:
            _check_text(data)
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
        return data


class SplitBody(Body):
    """Part of a charge paid to a member (a royalty) or to a named account (a fee)."""

    amount: Amount
    member: ExternalId | None = None
    account: ExternalId | None = None

    def to_split(self) -> Split:
        return Split(amount=self.amount, member=self.member, account=self.account)


Splits = Annotated[list[SplitBody], Field(max_length=limits.transfer_legs_max - 2)]


def _splits(splits: list[SplitBody]) -> list[Split]:
    return [s.to_split() for s in splits]


# ---- the operator ----

class CreateCommunity(Body):
    id: ExternalId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    asset: AssetCode = "CREDIT"
    scale: Annotated[StrictInt, Field(ge=0, le=amounts.asset_scale_max)] = 0
    key_name: Annotated[str, Field(max_length=limits.display_name_chars_max)] = "admin"
    # Its time is a test clock that POST /v1/test_clock/advance moves (test-clocks.md).
    test_mode: StrictBool = False


# ---- test clocks ----

class AdvanceClock(Body):
    """Move a test-mode community's clock: to an instant, or a number of seconds on."""

    to: AwareDatetime | None = None
    seconds: Annotated[StrictInt, Field(ge=1, le=limits.test_clock_advance_s_max)] | None = None


# ---- setup ----

class CreateAsset(Body):
    code: AssetCode
    scale: Annotated[StrictInt, Field(ge=0, le=amounts.asset_scale_max)] = 0
    name: Annotated[str, Field(max_length=100)] = ""


class CreateAccount(Body):
    name: ExternalId
    asset: AssetCode = "CREDIT"


class CreateKey(Body):
    name: Annotated[str, Field(max_length=limits.display_name_chars_max)] = ""
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]


# ---- members ----

class CreateMember(Body):
    id: ExternalId
    name: Name = ""
    email: Annotated[str, Field(max_length=200)] | None = None
    metadata: Metadata = {}


class SetCreditLine(Body):
    floor: Annotated[StrictInt, Field(le=0, ge=-limits.amount_max)]
    asset: AssetCode = "CREDIT"


# ---- credits ----

class Grant(Body):
    member: ExternalId
    amount: Amount
    asset: AssetCode = "CREDIT"
    source: Annotated[str, Field(min_length=1, max_length=32)] = "grant"
    paid: StrictBool = False
    cost_minor: Annotated[StrictInt, Field(ge=0, le=limits.amount_max)] = 0
    cost_currency: CurrencyCode | None = None
    expires_at: AwareDatetime | None = None
    priority: Annotated[StrictInt, Field(ge=-1000, le=1000)] = 0
    scope: ServiceCode | None = None
    actor: Actor = None
    reason_code: ReasonCode = "grant"
    memo: Memo = ""
    metadata: Metadata = {}


class Spend(Body):
    member: ExternalId
    amount: Amount
    asset: AssetCode = "CREDIT"
    service: ServiceCode | None = None
    splits: Splits = []
    actor: Actor = None
    reason_code: ReasonCode = "spend"
    memo: Memo = ""
    metadata: Metadata = {}

    def split_list(self) -> list[Split]:
        return _splits(self.splits)


class SpendItem(Body):
    """One spend of a batch, with its own idempotency key."""

    member: ExternalId
    amount: Amount
    idempotency_key: IdempotencyKeyField
    asset: AssetCode = "CREDIT"
    service: ServiceCode | None = None
    splits: Splits = []
    reason_code: ReasonCode = "spend"
    memo: Memo = ""
    metadata: Metadata = {}

    def to_request(self) -> SpendRequest:
        return SpendRequest(member=self.member, amount=self.amount,
                            idempotency_key=self.idempotency_key, asset=self.asset,
                            service=self.service, splits=_splits(self.splits),
                            memo=self.memo, reason_code=self.reason_code,
                            metadata=self.metadata)


class SpendBatch(Body):
    items: Annotated[list[SpendItem], Field(min_length=1, max_length=limits.batch_size_max)]
    actor: Actor = None


class Transfer(Body):
    from_member: ExternalId
    to_member: ExternalId
    amount: Amount
    asset: AssetCode = "CREDIT"
    fee: Annotated[StrictInt, Field(ge=0, le=limits.amount_max)] | None = Field(
        default=None, description="Credits to revenue; omitted: the community's transfer fee.")
    actor: Actor = None
    memo: Memo = ""
    metadata: Metadata = {}


class Reverse(Body):
    actor: Actor = None
    reason_code: ReasonCode = "reversal"
    memo: Memo = ""


# ---- holds ----

class Hold(Body):
    member: ExternalId
    amount: Amount
    asset: AssetCode = "CREDIT"
    service: ServiceCode | None = None
    timeout_s: Annotated[StrictInt, Field(ge=1, le=limits.hold_timeout_s_max)] = (
        limits.hold_timeout_s_default)
    actor: Actor = None
    metadata: Metadata = {}


class Capture(Body):
    amount: Amount
    final: StrictBool = True
    splits: Splits = []
    actor: Actor = None
    memo: Memo = ""

    def split_list(self) -> list[Split]:
        return _splits(self.splits)


class Void(Body):
    actor: Actor = None
