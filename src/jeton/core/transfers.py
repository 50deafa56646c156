"""Transfers and postings: the immutable journal entries of the ledger.

A transfer moves one asset between two or more accounts. Its postings sum to zero (credits
positive, debits negative), checked when it is built and again when it is read back. Each
posting that touches a wallet also records which lots it drew from or added to, so that a
reversal restores exactly those lots.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from typing import Any

from jeton.core.errors import InvariantViolation, invariant


class TransferKind(StrEnum):
    grant = "grant"  # credits issued into a wallet (bought, bonus, coupon, staff, reward)
    spend = "spend"  # a member pays for something
    transfer = "transfer"  # member to member
    capture = "capture"  # part of a hold, now spent
    expiry = "expiry"  # what was left of an expired lot, to breakage
    reversal = "reversal"  # the exact opposite of an earlier transfer
    adjustment = "adjustment"  # staff correction between system accounts
    payment = "payment"  # money received or refunded through a provider


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: str
    amount: int  # positive credits the account, negative debits it


@dataclass(frozen=True, slots=True)
class LotMove:
    leg: int  # index of the posting this belongs to
    lot_id: str
    amount: int  # negative: drawn from the lot; positive: added to it


@dataclass(slots=True)
class TransferDraft:
    """A transfer being built. `postings` merge per account: one posting per account."""

    kind: TransferKind
    asset: str
    postings: dict[str, int] = field(default_factory=dict)
    lot_moves: list[tuple[str, str, int]] = field(default_factory=list)  # (account, lot, amount)

    def add(self, account_id: str, amount: int) -> None:
        self.postings[account_id] = self.postings.get(account_id, 0) + amount

    def move_lot(self, account_id: str, lot_id: str, amount: int) -> None:
        self.lot_moves.append((account_id, lot_id, amount))

    def legs(self) -> list[Posting]:
        return [Posting(a, amt) for a, amt in self.balanced_legs()]

    def balanced_legs(self) -> list[tuple[str, int]]:
        """(account, amount) of every non-zero posting, checked to sum to zero."""
        legs = [(a, amt) for a, amt in self.postings.items() if amt != 0]
        if len(legs) == 1 or sum(amt for _, amt in legs) != 0:
            check_balanced([Posting(a, amt) for a, amt in legs])  # raises, naming the legs
        return legs


def check_balanced(postings: Sequence[Posting]) -> None:
    if len(postings) == 1:
        raise InvariantViolation(f"a transfer needs two legs, got {postings}")
    if sum(p.amount for p in postings) != 0:
        raise InvariantViolation(
            f"postings do not sum to zero: {[(p.account_id, p.amount) for p in postings]}")
    invariant(all(p.amount != 0 for p in postings), "a posting of zero")


# The header fields a transfer row carries and its hash covers (the row's other columns are
# its hash and the database's clock).
HEADER_FIELDS = ("community_id", "transfer_id", "kind", "asset", "member_id", "service",
                 "reverses_id", "hold_id", "actor", "reason_code", "memo", "metadata_json",
                 "idempotency_key", "effective_at_us")
_HEADER_SET = frozenset(HEADER_FIELDS)
_HEADER_SORTED = tuple(sorted(HEADER_FIELDS))
_HEADER_VALUES = operator.itemgetter(*_HEADER_SORTED)
_PART = "{}={}:{};".format  # field=len:value;
# The usual header's parts in one format: `field=%d:%s;` for each field, in name order.
_HEADER_FORMAT = "".join(f"{name}=%d:%s;" for name in _HEADER_SORTED)


# A transfer's metadata as its row keeps it (keys sorted, no spaces). One encoder for every
# write: `json.dumps` with options builds a new one per call.
_METADATA_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def metadata_json(metadata: dict[str, Any] | None) -> str:
    """The `metadata_json` column of a transfer with `metadata` (`{}` for none)."""
    return _METADATA_JSON(metadata) if metadata else "{}"


def transfer_hash(header: dict[str, Any], postings: Iterable[tuple[int, str, int]],
                  lot_moves: Iterable[tuple[int, str, int]]) -> str:
    """A digest of everything a transfer says, the same from any store.

    Fields are length-prefixed (`len:value`) in a fixed order (header fields by name, then
    postings and lot moves sorted), so no value can pass for two. A missing value (None) is
    written `~`.
    """
    # Every write hashes a transfer: the usual header's fields are fetched and formatted by
    # C-level calls (`itemgetter`, one `%` of all its parts), not one Python step per field.
    usual = header.keys() == _HEADER_SET
    keys: Sequence[str] = _HEADER_SORTED if usual else sorted(header)
    values = _HEADER_VALUES(header) if usual else [header[k] for k in keys]
    texts = ["~" if v is None else v if v.__class__ is str else str(v) for v in values]
    if usual:
        lengths_and_texts = chain.from_iterable(zip(map(len, texts), texts, strict=True))
        parts = [_HEADER_FORMAT % tuple(lengths_and_texts)]
    else:
        parts = list(map(_PART, keys, map(len, texts), texts))
    for _, account, amount in sorted(postings):
        text = str(amount)
        parts.append(f"p{_field(account)}{len(text)}:{text};")
    for _, lot, amount in sorted(lot_moves):
        text = str(amount)
        parts.append(f"l{_field(lot)}{len(text)}:{text};")
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _field(value: object) -> str:
    text = "~" if value is None else str(value)
    return f"{len(text)}:{text};"


class SealHasher:
    """`seal_hash` a transfer at a time, for a journal read page by page."""

    __slots__ = ("_digest",)

    def __init__(self, prev_hash: str) -> None:
        self._digest = hashlib.sha256(prev_hash.encode())

    def add(self, transfer_hash_: str) -> None:
        self._digest.update(transfer_hash_.encode())

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def seal_hash(prev_hash: str, transfer_hashes: Iterable[str]) -> str:
    """Chains a batch of transfers (in id order) onto the previous seal."""
    hasher = SealHasher(prev_hash)
    for h in transfer_hashes:
        hasher.add(h)
    return hasher.hexdigest()


GENESIS_HASH = "0" * 64
