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

# The quantity of one check or charge, in the service's own unit (uses, minutes, bytes). 2**40
# bytes is a terabyte: more than any single download or session a community prices, and small
# enough that quantity × a per-unit price is checked against amount_max without big numbers.
quantity_max = 2**40

# Parts of one split (royalties and fees). Each part is a leg of the charge's transfer, beside
# the member's leg and the revenue leg, so it must leave room under transfer_legs_max.
split_parts_max = 16

# A catalog file is read whole and validated at once; its size bounds the work and the errors.
catalog_bytes_max = 1_048_576
# Services plus rewards in one catalog: a community's price list, not a product database.
catalog_entries_max = 2_000
# Alternatives in one access rule and class prices in one price rule: a handful in practice.
access_alternatives_max = 16
class_prices_max = 64
# Names shown to people (a service's name, a unit label).
display_name_chars_max = 100

# ---- staff sign-in and dashboard sessions ----
# Five wrong passwords or one-time codes in a row lock a staff account for a quarter of an hour:
# few enough that guessing a password online is hopeless, long enough to make a script give up,
# short enough that an owner who mistyped is not locked out for the day.
staff_sign_in_failures_max = 5
staff_lockout_s = 15 * 60
# A dashboard session ends 12 hours after sign-in whatever happens (a working day), and after an
# hour without a request (a screen left open in a shared office).
staff_session_lifetime_s = 12 * 3600
staff_session_idle_s = 3600
# Seeing a session again refreshes its idle clock at most this often: one write per minute of
# browsing instead of one per page view.
staff_session_touch_s = 60
# Between the password and the one-time code: time enough to open an authenticator app.
staff_totp_pending_s = 5 * 60
# One-time codes of the step before and after the current one are accepted (phones drift).
staff_totp_window_steps = 1
# Passwords: shorter ones fall to offline guessing; longer ones only make hashing slower.
staff_password_chars_min = 10
staff_password_chars_max = 1_024
# Dashboard forms are a few fields; anything bigger is not a person typing.
admin_form_bytes_max = 64 * 1024
