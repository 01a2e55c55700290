"""The resident conversation's state, kept in Redis with a TTL (rebuildable: IDLE is safe)."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum

import redis

log = logging.getLogger(__name__)


class State(str, Enum):
    IDLE = "idle"
    AWAIT_LOCATION = "await_location"


@dataclass(frozen=True)
class Conversation:
    """Where a resident is in the conversation, and the draft complaint if one is pending."""

    state: State = State.IDLE
    draft: dict = field(default_factory=dict)


class ConversationStore:
    """Conversation per (channel, sender); a Redis outage degrades to IDLE, never to an error."""

    def __init__(self, r: redis.Redis, prefix: str, ttl_seconds: int) -> None:
        self.r = r
        self.prefix = prefix
        self.ttl = ttl_seconds

    def get(self, channel: str, sender: str) -> Conversation:
        """The sender's conversation, IDLE when none (or Redis is unreachable)."""
        try:
            raw = self.r.get(self._key(channel, sender))
        except redis.RedisError as e:
            log.warning("conversation state unavailable, treating as idle: %s", e)
            return Conversation()
        if not raw:
            return Conversation()
        try:
            data = json.loads(raw)
            return Conversation(State(data["state"]), data.get("draft") or {})
        except (ValueError, KeyError, TypeError):
            return Conversation()

    def save(self, channel: str, sender: str, conv: Conversation) -> None:
        """Store the conversation (IDLE deletes it)."""
        key = self._key(channel, sender)
        try:
            if conv.state is State.IDLE:
                self.r.delete(key)
            else:
                self.r.set(key, json.dumps({"state": conv.state.value, "draft": conv.draft},
                                           ensure_ascii=False), ex=self.ttl)
        except redis.RedisError as e:
            log.warning("conversation state not saved: %s", e)

    @contextmanager
    def lock(self, channel: str, sender: str) -> Iterator[None]:
        """Serialize one sender's messages so a photo and a text can't race the state."""
        lk = self.r.lock(f"{self.prefix}lock:{channel}:{sender}", timeout=10, blocking_timeout=4)
        try:
            acquired = lk.acquire()
        except redis.RedisError as e:
            log.warning("conversation lock unavailable: %s", e)
            acquired = False
        try:
            yield
        finally:
            if acquired:
                try:
                    lk.release()
                except redis.RedisError:
                    pass  # the lock expires on its own

    def _key(self, channel: str, sender: str) -> str:
        return f"{self.prefix}conv:{channel}:{sender}"
