"""Our own message type: what every channel is parsed into before handlers see it."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    TEXT = "text"
    VOICE = "voice"
    IMAGE = "image"
    LOCATION = "location"
    EVENT = "event"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Inbound:
    """One resident message or event, independent of the channel's wire format."""

    channel: str  # "mp" (Official Account); later "group"
    sender: str  # openid
    recipient: str  # the account's original id (gh_...)
    kind: Kind
    create_time: int
    msg_id: str = ""
    text: str = ""  # text content, or voice Recognition
    media_id: str = ""
    media_url: str = ""
    event: str = ""  # lower-case event name for EVENT
    event_key: str = ""
    label: str = ""  # location label
    raw_type: str = ""  # the wire MsgType, for logs of unsupported kinds
    command: str = ""  # set by dispatch when the text is a command
    arg: str = ""  # the command's argument (a ticket number, …)

    @property
    def dedup_key(self) -> str:
        """MsgId when WeChat gives one; events are keyed by sender + CreateTime (+ event and key)."""
        if self.msg_id:
            return f"{self.channel}:msg:{self.msg_id}"
        return f"{self.channel}:evt:{self.sender}:{self.create_time}:{self.event}:{self.event_key}"
