"""Limits of the payments package, each with its unit last and the reason it exists.

They sit here rather than in `jeton.core.limits` because they describe talking to payment
providers, which the pure core knows nothing about.
"""

from __future__ import annotations

# A request to a provider that takes longer than this is treated as failed (and retried with the
# same idempotency key). An off-session charge can sit in a member's request path (auto-recharge),
# so this is far below the SDK's own default of 80 seconds.
provider_connect_timeout_s = 5.0
provider_read_timeout_s = 30.0

# Network retries the provider SDK makes by itself. Safe because every write carries an
# idempotency key; kept small so that a provider outage fails fast instead of piling up.
provider_retries_max = 2

# A webhook whose signed timestamp is older than this is refused, so that a captured request
# cannot be replayed later. Five minutes is what Stripe recommends and allows for clock skew.
webhook_tolerance_s = 300

# Webhook bodies are read into memory before the signature is checked; a provider event is a few
# kilobytes, so anything much larger is not one.
webhook_payload_bytes_max = 512 * 1024

# Return URLs are sent to the provider and shown in the member's browser.
url_chars_max = 2_048

# What a member sees on the hosted checkout page as the name of the pack.
description_chars_max = 250

# A payment reference typed by staff for an offline payment ("check 1042 from Ann").
reference_chars_max = 200

# The local test double keeps every object in memory; a test that creates more is a runaway loop.
fake_objects_max = 100_000

# How long the local fake's server may take to start or stop before the test gives up.
fake_server_start_timeout_s = 10.0
fake_server_stop_timeout_s = 5.0

# How long the local fake waits for the webhook endpoint it delivers events to.
fake_webhook_timeout_s = 5.0
