"""Handlers decide what a message means: handle(msg, conv, ctx) -> Outcome."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.clock import Clock, iso
from bot.config import Config
from bot.conversation import Conversation, State
from bot.inbound import Inbound
from classifier import Classification, Classifier
from storage import Storage


@dataclass(frozen=True)
class Outcome:
    """What a handler decided: the reply, the next conversation state, and side effects owed."""

    reply: str
    state: State = State.IDLE
    draft: dict = field(default_factory=dict)
    ticket: int | None = None  # the ticket this message made or touched
    notify: bool = False  # the change owes notices: kick the outbox delivery


@dataclass(frozen=True)
class Context:
    """Everything a handler may use; no Redis, no HTTP."""

    config: Config
    storage: Storage
    clock: Clock
    classifier: Callable[[], Classifier]  # the rules in force now (they may be reloaded)

    def classify(self, text: str) -> Classification:
        """Label text with the rules in force."""
        return self.classifier().classify(text)

    def now(self) -> datetime:
        """The injectable clock's time."""
        return self.clock.now()

    def stamp(self) -> str:
        """The clock's time in storage form."""
        return iso(self.clock.now())


Handler = Callable[[Inbound, Conversation, Context], Outcome]
