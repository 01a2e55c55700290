"""The /wechat blueprint: verify, decode, de-duplicate, dispatch, reply in the request's mode."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from bot import replies
from bot.app import Services
from bot.conversation import Conversation, State
from bot.dispatch import dispatch
from bot.errors import BadSignature, MalformedMessage, StaleRequest
from bot.inbound import Inbound

log = logging.getLogger(__name__)
bp = Blueprint("wechat", __name__)


@bp.get("/wechat")
def verify():
    """URL verification: echo echostr when the signature holds."""
    s = current_app.extensions["wuye"]
    try:
        return Response(s.codec.verify_url(request.args, _now(s)), mimetype="text/plain")
    except (BadSignature, StaleRequest) as e:
        return _refuse(403, e)
    except MalformedMessage as e:
        return _refuse(400, e)


@bp.post("/wechat")
def receive():
    """One WeChat message in, one passive reply out (within WeChat's 5 seconds)."""
    s = current_app.extensions["wuye"]
    now = _now(s)
    try:
        msg, envelope = s.codec.decode(request.get_data(cache=False), request.args, now)
    except (BadSignature, StaleRequest) as e:
        return _refuse(403, e)
    except MalformedMessage as e:
        return _refuse(400, e)
    claim = s.dedup.claim(msg.dedup_key)
    reply = claim.reply if not claim.first else _handle(s, msg)
    body = s.codec.encode(reply or "", msg, envelope, now)
    return Response(body or "success", mimetype="application/xml" if body else "text/plain")


def _handle(s: Services, msg: Inbound) -> str:
    try:
        with s.conversations.lock(msg.channel, msg.sender):
            conv = s.conversations.get(msg.channel, msg.sender)
            outcome = dispatch(msg, conv, s.ctx)
            if conv.state is not State.IDLE or outcome.state is not State.IDLE:  # idle→idle stores nothing
                s.conversations.save(msg.channel, msg.sender, Conversation(outcome.state, outcome.draft))
    except Exception:  # noqa: BLE001 - the resident gets an apology, never a stack trace
        log.exception("handling %s failed", msg.dedup_key)
        s.dedup.release(msg.dedup_key)
        hotline = s.config.hotline
        return replies.APOLOGY_WITH_HOTLINE.format(hotline=hotline) if hotline else replies.APOLOGY
    s.dedup.finish(msg.dedup_key, outcome.reply)
    if outcome.notify:
        s.kick_delivery()
    return outcome.reply


def _refuse(code: int, e: Exception) -> tuple[Response, int]:
    log.info("refused %s %s: %s", request.method, request.path, e)
    return Response(f"{type(e).__name__}: {e}\n", mimetype="text/plain"), code


def _now(s: Services) -> int:
    return int(s.ctx.clock.now().timestamp())
