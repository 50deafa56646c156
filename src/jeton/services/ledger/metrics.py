"""Counters the services keep for the process, whether or not an HTTP request asked.

`/metrics` (api/metrics.py) serves them with the app's own counters. Counts are per process:
Prometheus adds up the processes it scrapes. Count a change from inside its transaction with
`jeton.store.transactions.after_commit`, so that a write rolled back (or retried) is not counted:

    after_commit(ws.conn, recharges_total.labels(outcome="succeeded").inc)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

PROCESS_REGISTRY = CollectorRegistry()

recharges_total = Counter(
    "jeton_recharges_total", "Automatic recharges settled, by outcome (succeeded, failed).",
    ["outcome"], registry=PROCESS_REGISTRY)
webhook_delivery_failures_total = Counter(
    "jeton_webhook_delivery_failures_total",
    "Webhook deliveries that failed (each failed attempt counts once).",
    registry=PROCESS_REGISTRY)

sql_spends_total = Counter(
    "jeton_sql_spends_total",
    "Plain spends sent to the SQL function jeton_spend, by outcome (ok, replay, "
    "insufficient_credits, idempotency_conflict, fallback) and the reason of a fallback.",
    ["outcome", "reason"], registry=PROCESS_REGISTRY)
