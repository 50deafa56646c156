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

# Citus: shards per distributed table, chosen once when `jeton migrate` first distributes.
# Shards, not communities, are what a rebalance moves; a few per worker core is plenty, and
# every shard is a table on a worker, so tens of thousands would make DDL crawl.
citus_shard_count_max = 1_024

# Expiry and other sweep jobs take this many rows per transaction.
job_batch_size = 500

# How long an idempotency key keeps its answer.
idempotency_retention_days = 30
# Keys of the ledger's own routes answered by this server process, remembered (with the request
# they answered) so that another request under one of them is refused at once, before its
# handler runs (decision 0038); the oldest are forgotten first. About 1 MiB.
http_answered_keys_max = 10_000
# Members whose hook reads (their freeze and auto-recharge settings) a process keeps made, one
# small object each per member and asset, the most recent kept.
member_reads_kept = 10_000

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
# Plans with terms in one catalog file (core/rollover.py): a community sells a handful of plans.
catalog_plans_max = 100
# Cycles a rolled credit may keep rolling: a year of monthly cycles; past that it is a balance
# that never expires, which a plan without rollover and a permanent grant already express.
rollover_cycles_max = 12
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
# Sign-in attempts (passwords and codes) from one network address, whatever the account: a
# burst, then one more every so often. Slows down trying one password on many accounts, which
# the per-account lockout above does not see.
staff_sign_in_burst_per_address = 10
staff_sign_in_refill_s = 30
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

# ---- events and webhooks ----
# After a failed attempt a delivery waits this long before the next (each wait stretched or
# shrunk by up to the jitter ratio, so endpoints that failed together are not retried in one
# burst). Nine attempts over about 22 hours: a receiver down for a deploy gets everything
# within seconds, one down for a night still gets everything in the morning.
webhook_retry_schedule_s = (5, 30, 120, 600, 3_600, 3 * 3_600, 6 * 3_600, 12 * 3_600)
webhook_retry_jitter_ratio = 0.1
# One HTTP attempt: long enough for a slow receiver, short enough not to tie up a worker.
webhook_timeout_s = 10.0
# A worker sending a delivery holds it this long; past it (the worker died) another may send it.
# Longer than the timeout above, so a live worker never loses its claim mid-request.
webhook_claim_lease_s = 60
# Deliveries sent at once per community, and at most per job pass (then the pass ends so other
# communities and jobs get their turn; the rest go in the next pass).
webhook_concurrency_max = 8
webhook_deliveries_per_pass_max = 64
webhook_pass_s_max = 20.0
# Endpoints per community: a host app, a staging copy, an analytics sink... not hundreds.
webhook_endpoints_max = 16
webhook_url_chars_max = 2_048
webhook_description_chars_max = 500
webhook_event_types_max = 64
# What is kept of a receiver's answer and of an error, for the owner to read.
webhook_response_excerpt_bytes_max = 1_024
webhook_error_chars_max = 500
# Standard Webhooks asks for 24 to 64 bytes of key.
webhook_secret_bytes = 32
# After a rotation the old secret signs too for this long (the default) or at most this long.
webhook_secret_grace_s_default = 24 * 3_600
webhook_secret_grace_s_max = 7 * 24 * 3_600
# Events read from the outbox per fan-out transaction, and transactions per job pass.
webhook_fanout_batch_size = 500
webhook_fanout_batches_per_pass_max = 20
# Fan-out reads the outbox a second time this far behind, to catch an event whose transaction
# committed after a newer one: no write transaction stays open this long (see seal_horizon_ms).
webhook_fanout_lag_ms = seal_horizon_ms
# Allowance and reward counters not raised for this long are deleted: longer than the longest
# calendar window (a month), so only windows that have ended go. A session window idle this long
# is taken to be over (a session resumed after it would count from zero again).
counter_retention_days = 62
# Events, with their deliveries and attempts, are kept this long, then pruned (like the 30 days
# for which payment APIs commonly keep theirs). The journal keeps every change for good; an
# event only repeats what happened. A delivery still pending keeps its event.
event_retention_days = 30
# Which event types a community's endpoints want and whether it has low-balance thresholds are
# cached this long per process, so the ledger's write path does not read them on every charge.
# Changes made through this process are seen at once; other processes see them within this.
event_subscriptions_cache_s = 5.0
# credits.expiring is sent this many days before a lot expires, unless the community says.
credits_expiring_notice_days_default = 3
credits_expiring_notice_days_max = 90
# Lots announced per transaction of the credits.expiring job.
credits_expiring_batch_size = 500

# ---- funding: packs, purchases, plans, auto-recharge, coupons ----
# Packs, plans and coupons of one community are read whole for a member's list: a price list,
# not a product database.
packs_max = 500
plans_max = 200
# Classes and keys one pack or coupon gives: a handful in practice.
entitlements_max = 16
# A pending purchase whose checkout was never paid is abandoned after this: Stripe closes a
# Checkout Session after 24 hours, and an hour more lets a late webhook still find it pending.
purchase_pending_ttl_s = 25 * 3600
# A provider that cannot be reached is asked again this many times, this far apart, before a
# recharge or renewal charge is reported as failed. Every retry carries the same idempotency key.
provider_attempts_max = 3
provider_retry_s = 60
# An off-session charge started but not settled (a crash between the charge and its bookkeeping)
# is taken up again after this; the provider's idempotency key returns the first answer.
charge_stale_s = 10 * 60
# A failed plan renewal is retried after these delays, then the subscription is canceled:
# bounded, and spread so that a card topped up the next day still renews.
renewal_retry_delays_s = (24 * 3600, 3 * 24 * 3600, 5 * 24 * 3600)
# Codes one affiliate may ask for in one request.
affiliate_codes_per_request_max = 100

# ---- HTTP API (jeton.api) and its client (jeton.Client) ----
# A request body: a full batch of spends with modest metadata fits; anything bigger is a bug or
# an attack, and is refused (413) before it is read into memory.
api_body_bytes_max = 2 * 1024 * 1024
# Requests per second each API key may make, per server process, and the burst it may save up:
# a host app sends all its members' charges with one key, so this is sized for a busy community
# (JETON_API_RATE_PER_S changes it), yet one runaway loop cannot take the whole server.
api_rate_per_s = 1_000.0
api_rate_burst = 2_000
# An API key's `last_used_at` is written at most this often: one write a minute per key, not one
# per request.
api_key_touch_s = 60
# The HTTP API remembers a checked key this long, so a request does not read it again. A key
# revoked in the serving process stops at once; in other processes, within this time.
api_key_cache_s = 5.0
api_key_cache_entries_max = 10_000
# Keys a community may have (live or revoked): a few per host app and environment.
api_keys_per_community_max = 500
# Idle keep-alive connections are closed after this (uvicorn's timeout_keep_alive).
http_keep_alive_s = 5
# Connections one server process serves at once; more are refused with 503 by uvicorn.
http_connections_max = 1_000
# A client's retries of one call (timeouts, connection errors, 5xx, 429, a request in flight),
# and the cap of its exponential backoff between them.
client_retries_max = 3
client_backoff_s_max = 8.0
client_timeout_s_default = 10.0

# ---- charging: check, charge, metered use, rewards ----
# The context of a charge (who uploaded the file, which file) is stored with the transfer, so
# it is kept to a few short strings, inside metadata_bytes_max.
charge_context_entries_max = 16
charge_context_value_chars_max = 100
# Funding sources (a loyalty-card database) asked before the wallet, per community: each is a
# call to an outside system on the charge path.
funding_sources_max = 4
# Parsed catalogs kept per process (one per community); a community past this is parsed again
# on its next charge. A catalog is at most catalog_entries_max entries, so this bounds memory.
catalog_cache_entries_max = 1_000
# A catalog preview replays the charges of the last days through a new catalog, read-only
# (services/charging/preview.py, decision 0065): at most a quarter of charges back, at most the
# newest `catalog_preview_charges_max` of them (the answer says `truncated`), each member read
# once; the answer lists the most affected members first, at most `catalog_preview_members_max`.
catalog_preview_days_default = 30
catalog_preview_days_max = 90
catalog_preview_charges_max = 10_000
catalog_preview_members_max = 500

# ---- member pages (member links and sessions, jeton.web.member) ----
# A member link is opened at once by the browser the host app sends to it, like a billing
# portal session: ten minutes covers a slow redirect, and a link found later in a log or a
# browser history opens nothing. At most an hour; at least a second (tests use a couple).
member_link_ttl_s_default = 10 * 60
member_link_ttl_s_min = 1
member_link_ttl_s_max = 3600
# The session a link opens lasts an hour from the moment it is opened, however busy: enough to
# buy a pack and wait for the payment, short enough that a shared computer forgets the member
# soon. The host app asks for a new link for the next visit.
member_session_lifetime_s = 3600
# Links and sessions are deleted this long after they expire: kept a day for support questions,
# then gone, so the table stays small.
member_links_retention_s = 24 * 3600
# The host app's page a member goes back to: a URL, bounded like every other URL we store.
member_return_url_chars_max = 2_048
# Member forms are a few short fields; anything bigger is not a person typing.
member_form_bytes_max = 16 * 1024
# The home page shows credits expiring within this many days, and the history this many lines
# a page.
member_expiring_days = 14
member_history_page_size = 20
# Purchases shown in the credit store, and searched for a returning checkout session.
member_recent_purchases = 10

# ---- auto-recharge to a target (services/funding/recharge.py) ----
# Packs one recharge to a target may buy at once: a target is meant to be a few packs away, and
# a bound keeps a mistyped target from charging a card for a hundred packs.
recharge_units_max = 20

# ---- wallet protection (services/charging/protection.py, velocity.py) ----
# A freeze's reason is read by people in the audit log: a sentence or two, like a memo.
freeze_reason_chars_max = 500
# Velocity limits of a community: one for every service and a few for the costly ones; a limit
# per service of a whole catalog would be a price list, not a guard.
velocity_limits_max = 100
# "New member" is about a first week or month of abuse; a year is the most that still means new.
new_member_days_max = 365
# Trips of a limit in one UTC day before the owner is alerted: the default tells of a member who
# keeps trying (one trip is a member who did not know); the bound keeps the setting meaningful.
alert_after_trips_default = 3
alert_after_trips_max = 1_000
# Spending budgets of API keys (services/charging/key_budgets.py): one per key and asset, and a
# community has at most as many keys as that (api_keys_per_community_max) for its assets.
key_budgets_max = 1_000

# ---- badges (core/badges.py) ----
# A badge's code is an id in URLs and events; its texts are a title and a line, not a page.
badge_code_chars_max = 64
badge_text_chars_max = 200
# Thresholds are counts (uses, credits, days); a billion is more than any member reaches.
badge_threshold_max = 1_000_000_000
# Badges per community: a wall of achievements, not a second catalog.
badges_max = 200

# Test clocks (decision 0056). One advance moves a community's clock at most this far: two
# years cover every plan cycle twice over, and an advance runs every job that falls due on the
# way, so an unbounded one could hold a request for minutes.
test_clock_advance_s_max = 2 * 366 * 24 * 3600
# An advance stops at most this many times on the way (at each lot expiry, hold timeout or
# renewal that falls due, in order); past it, what remains falls due together at the target.
test_clock_steps_max = 2_000
# An advance whose process died leaves the clock `advancing`; after this long (real time)
# another advance may take over from where it stopped.
test_clock_lease_s = 300
# ---- balance history (services/ledger/history.py) ----
# Points of one balance history: a month of hours (744) or a bit under three years of days. Each
# point is one bisection of the wallet's postings, so the bound is also the read's cost bound.
balance_history_points_max = 1_000
# The member's page and the owner's member page show the balance at the end of this many days.
balance_series_days = 14
# ---- gamification (core/achievements.py, services/gamification) ----
# Points rules, badges, levels and challenges of one catalog together: every rule is checked
# against each new transfer by the awarding job, so the list stays short.
achievement_rules_max = 500
# Ranks are a ladder a member climbs, not a table to search.
levels_max = 50
# Transfers read by one awarding transaction: a few milliseconds of work that holds the
# community's awarding cursor, so a long backlog is worked off in many short transactions.
award_batch_size = 500
# Batches one job run works through before it lets the other jobs of the pass run.
award_batches_per_pass_max = 20
# Members on one leaderboard page.
leaderboard_size_max = 100
leaderboard_size_default = 10
# ---- post-pay bills (services/funding/bills.py) ----
# A grace period is days to pay a bill, not a second credit line: three months is the most.
bill_grace_days_max = 90
# Charges one bill takes in, read once when it is issued: a cycle of a busy member is thousands;
# a wallet with more unbilled charges than this is billed for them in several bills.
bill_transfers_max = 100_000
# Money for one whole credit: a million minor units ($10,000) is more than any credit is worth.
credit_price_minor_max = 1_000_000

# ---- sub-leased areas (services/charging/leases.py) ----
# Running leases of a community: the charge reads them all in its first statement, so they stay
# few; an area is a branch of the catalog (a library, a shop), not one service each.
leases_max = 100
