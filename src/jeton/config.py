"""Configuration from `JETON_*` environment variables, read once at start (12-factor)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///jeton.db"
    sqlite_synchronous: str = "FULL"
    # Webhook endpoints on private or loopback addresses are refused unless this is set.
    webhooks_allow_private: bool = False
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    public_url: str = "http://127.0.0.1:8000"
    # Plain spends on PostgreSQL as one call of `jeton_spend` (decisions 0078, 0095): None is
    # the default (on, for Citus and plain PostgreSQL alike), True or False forces it.
    spend_in_sql: bool | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)

        def flag(name: str) -> bool:
            return env.get(name, "").lower() in ("1", "true", "yes", "on")

        return cls(
            database_url=env.get("JETON_DATABASE_URL", cls.database_url),
            sqlite_synchronous=env.get("JETON_SQLITE_SYNCHRONOUS", cls.sqlite_synchronous),
            webhooks_allow_private=flag("JETON_WEBHOOKS_ALLOW_PRIVATE"),
            stripe_api_key=env.get("JETON_STRIPE_API_KEY", ""),
            stripe_webhook_secret=env.get("JETON_STRIPE_WEBHOOK_SECRET", ""),
            stripe_api_base=env.get("JETON_STRIPE_API_BASE", ""),
            public_url=env.get("JETON_PUBLIC_URL", cls.public_url),
            spend_in_sql=_on_off(env.get("JETON_SPEND_IN_SQL", "")),
            extra={k: v for k, v in env.items() if k.startswith("JETON_")},
        )


def _on_off(value: str) -> bool | None:
    """`on`/`off` (or 1/0, true/false, yes/no); anything else, or nothing, is None."""
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    return None


def default_server_processes(dialect: str) -> int:
    """`jeton serve`'s processes when the operator names none: every core this process may
    use on PostgreSQL (each process has its own connections), one on SQLite (one writer at a
    time, whose process batches the writes already)."""
    if dialect != "postgresql":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 64))
