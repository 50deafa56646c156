"""Every limit of Jeton in one place, each with its unit last and the reason it exists."""

from __future__ import annotations

# Amounts are stored as signed 64-bit integers (BIGINT); keep one bit of headroom so a sum of
# two amounts in a check cannot overflow before the database refuses it.
amount_max = 2**62 - 1

# One batch is one database transaction: large enough to amortise the commit, small enough that
# a writer never holds the SQLite write lock for long.
batch_size_max = 1_000

# A transfer with more legs than this is almost certainly a mistake, and legs are locked rows.
transfer_legs_max = 32

# Free-form metadata is stored with every transfer; keep rows small.
metadata_bytes_max = 4_096
memo_chars_max = 500
reason_code_chars_max = 64

# Ids chosen by the host app (members, communities, keys).
external_id_chars_max = 64
idempotency_key_chars_max = 255

# Pages of statements and lists.
page_size_default = 50
page_size_max = 500

# Holds: a hold nobody settles must not block credits for ever.
hold_timeout_s_default = 15 * 60
hold_timeout_s_max = 30 * 24 * 3600

# A lot can live at most this long before it expires (100 years ≈ never, but bounded).
lot_expiry_days_max = 36_500

# Lots the spend path reads for one wallet; merging keeps real wallets far below this.
wallet_live_lots_max = 10_000

# Writers retry serialization failures and deadlocks this many times before giving up.
write_retries_max = 8

# Seals and balance checkpoints cover only transfers older than this: no transaction stays open
# that long (statement_timeout_ms below), so nothing can commit into a sealed range.
seal_horizon_ms = 60_000
statement_timeout_ms = 30_000

# Expiry and other sweep jobs take this many rows per transaction.
job_batch_size = 500

# How long an idempotency key keeps its answer.
idempotency_retention_days = 30
