"""WeChat retries a slow message up to 3 times: the first wins, retries get its answer."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)
PENDING = "\x00pending"


@dataclass(frozen=True)
class Claim:
    first: bool
    reply: str | None = None  # the stored answer, for a retry


class Dedup:
    """Redis SET NX EX on the message key; the stored reply answers retries.

    SQLite's unique source-message index is the backstop when Redis is down or has lost
    the key, so a retry can still never make a second ticket.
    """

    def __init__(self, r: redis.Redis, prefix: str, ttl_seconds: int = 48 * 3600, wait_seconds: float = 4.0) -> None:
        self.r = r
        self.prefix = prefix
        self.ttl = ttl_seconds
        self.wait = wait_seconds

    def claim(self, key: str) -> Claim:
        """First sight of key → first=True; a retry gets the first answer (waiting briefly for it)."""
        k = self._key(key)
        deadline = time.monotonic() + self.wait
        try:
            while True:
                if self.r.set(k, PENDING, nx=True, ex=self.ttl):
                    return Claim(True)  # first sight, or the first attempt failed and released it
                raw = self.r.get(k)
                if raw is not None and raw != PENDING.encode():
                    return Claim(False, json.loads(raw)["reply"])
                if time.monotonic() >= deadline:
                    return Claim(False, None)
                time.sleep(0.05)
        except redis.RedisError as e:
            log.warning("dedup unavailable, relying on the database backstop: %s", e)
            return Claim(True)

    def finish(self, key: str, reply: str) -> None:
        """Store the answer for retries."""
        try:
            self.r.set(self._key(key), json.dumps({"reply": reply}, ensure_ascii=False), ex=self.ttl)
        except redis.RedisError as e:
            log.warning("dedup answer not stored: %s", e)

    def release(self, key: str) -> None:
        """Forget a key whose handling failed, so WeChat's retry is handled afresh."""
        try:
            self.r.delete(self._key(key))
        except redis.RedisError as e:
            log.warning("dedup key not released: %s", e)

    def _key(self, key: str) -> str:
        return f"{self.prefix}dedup:{key}"
