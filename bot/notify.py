"""Outbound channels: render an owed notice and send it (WeCom group robot for now)."""
from __future__ import annotations

import requests

from bot import replies
from bot.config import Config
from bot.errors import WuyeError
from classifier.extract import mask_phones
from storage import OutboxRow

ROBOT_MAX_BYTES = 2048
# WeCom robot errcodes worth trying again: rate limited, system busy.
RETRYABLE_ERRCODES = {-1, 45009, 45033}


class DeliveryFailed(WuyeError):
    """A send failed; `permanent` says whether trying again can help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def render_group(row: OutboxRow) -> tuple[str, list[str]]:
    """The group text for a notice and who to @mention."""
    p = {k: mask_phones(v) if isinstance(v, str) else v for k, v in row.payload.items()}
    if row.kind == "new_ticket":
        claim = replies.GROUP_CLAIM_WITHIN.format(n=p["claim_minutes"]) if p.get("claim_minutes") else ""
        text = replies.GROUP_NEW_TICKET.format(number=p["ticket"], urgency=p["urgency"], category=p["category"],
                                               location=p["location"], text=p["text"], claim=claim)
        return text, (["@all"] if p["urgency"] == "紧急" else [])
    if row.kind == "followup":
        text = replies.GROUP_FOLLOWUP.format(number=p["ticket"], count=p.get("count", ""), text=p["text"])
        return text, ([p["owner"]] if p.get("owner") else [])
    raise DeliveryFailed(f"unknown notice kind {row.kind!r}", permanent=True)


def fit_bytes(text: str, limit: int = ROBOT_MAX_BYTES) -> str:
    """Cut text to the robot's byte limit on a character boundary, marking the cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def send(row: OutboxRow, config: Config, timeout: float = 5.0) -> None:
    """Deliver one outbox row; raise DeliveryFailed when it did not go out."""
    if row.channel != "group":
        raise DeliveryFailed(f"channel {row.channel!r} has no sender yet", permanent=True)
    group = config.group_for(row.target)
    if group is None:
        raise DeliveryFailed(f"no group configured for building {row.target!r}", permanent=True)
    text, mentioned = render_group(row)
    body = {"msgtype": "text", "text": {"content": fit_bytes(text), "mentioned_list": mentioned}}
    try:
        resp = requests.post(group.webhook, json=body, timeout=timeout)
    except requests.RequestException as e:
        raise DeliveryFailed(f"group robot unreachable: {type(e).__name__}", permanent=False) from None
    if resp.status_code >= 500:
        raise DeliveryFailed(f"group robot HTTP {resp.status_code}", permanent=False)
    try:
        answer = resp.json()
        errcode = int(answer.get("errcode", -1))
    except (ValueError, AttributeError, TypeError):
        raise DeliveryFailed(f"group robot answered HTTP {resp.status_code} without JSON", permanent=False) from None
    if errcode != 0:
        raise DeliveryFailed(f"group robot errcode {errcode}: {answer.get('errmsg', '')}",
                             permanent=errcode not in RETRYABLE_ERRCODES)
