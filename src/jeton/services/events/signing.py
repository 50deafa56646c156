"""The Standard Webhooks message of an event: its body and its signed headers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

from jeton.core.clock import from_us


def sign_headers(msg_id: str, body: str, secrets_: Sequence[str], at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one message, signed by every secret given."""
    signature = " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets_)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature}


def message_body(type_: str, created_at_us: int, payload_json: str) -> str:
    when = from_us(created_at_us).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": type_, "timestamp": when, "data": json.loads(payload_json)},
                      separators=(",", ":"))
