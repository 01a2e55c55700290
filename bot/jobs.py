"""Worker-side jobs: they take ids (or nothing), re-read from storage, and deliver."""
from __future__ import annotations

import functools
import logging
import os
from datetime import timedelta

from bot.clock import Clock, SystemClock, iso
from bot.config import Config, load_config
from bot.notify import DeliveryFailed, send
from storage import Storage, open_storage

log = logging.getLogger(__name__)
# Backoff between attempts of one notice; after the last it is recorded as failed.
# The schedule lives in SQLite (outbox.next_at), not in Redis: a lost Redis must not
# lose a retry, and the periodic sweep picks due rows up again.
BACKOFF_SECONDS = (10, 30, 120, 600, 1800, 3600)
LEASE = timedelta(minutes=5)


@functools.cache
def _services(config_path: str) -> tuple[Config, Storage]:
    config = load_config(config_path or None)
    return config, open_storage(config.storage_path)


def kick_flag(config: Config) -> str:
    """The Redis key that says a delivery job is already queued."""
    return f"{config.redis_prefix}deliver-queued"


def deliver_due(config_path: str = "", limit: int = 500) -> dict[str, int]:
    """Deliver every due outbox row; returns counts by outcome."""
    config, storage = _services(config_path or os.environ.get("WUYE_CONFIG", ""))
    _clear_kick(config)
    totals = {"sent": 0, "retry": 0, "failed": 0}
    while True:
        counts = deliver_rows(storage, config, SystemClock(), limit)
        totals = {k: totals[k] + counts[k] for k in totals}
        if sum(counts.values()) < limit:
            return totals


def _clear_kick(config: Config) -> None:
    # Cleared before reading rows: a ticket committed after this point queues a new job.
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        try:
            job.connection.delete(kick_flag(config))
        except Exception:  # noqa: BLE001 - the flag expires on its own
            log.warning("delivery flag not cleared; it expires by itself")


def deliver_rows(storage: Storage, config: Config, clock: Clock, limit: int = 100) -> dict[str, int]:
    """Claim due rows (a lease, so two workers never send one row twice) and send them."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    now = clock.now()
    for row in storage.outbox.due(iso(now), limit):
        if not storage.outbox.claim(row.id, iso(now), iso(now + LEASE)):
            continue
        try:
            send(row, config)
        except DeliveryFailed as e:
            if e.permanent or row.attempts + 1 >= len(BACKOFF_SECONDS):
                storage.outbox.mark_failed(row.id, str(e), iso(clock.now()))
                log.error("notice %s failed for good: %s", row.id, e)
                counts["failed"] += 1
            else:
                wait = timedelta(seconds=BACKOFF_SECONDS[row.attempts])
                storage.outbox.mark_retry(row.id, str(e), iso(clock.now() + wait))
                counts["retry"] += 1
            continue
        storage.outbox.mark_sent(row.id, iso(clock.now()))
        counts["sent"] += 1
    return counts
