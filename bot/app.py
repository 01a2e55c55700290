"""create_app(config): wires Redis, the queue, storage, the classifier and the blueprints."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from flask import Flask, jsonify
from rq import Queue
from werkzeug.exceptions import HTTPException

from bot import embedded
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.conversation import ConversationStore
from bot.dedup import Dedup
from bot.jobs import deliver_due, kick_flag
from bot.reloader import ClassifierHolder
from bot.wechat import WechatCodec
from handlers import Context
from storage import Storage, open_storage

log = logging.getLogger(__name__)
# A lost job (worker crash) leaves the flag for at most this long; the sweep covers that gap.
KICK_TTL_SECONDS = 10


@dataclass
class Services:
    """What the web process holds for its lifetime."""

    config: Config
    storage: Storage
    redis: redis.Redis
    queue: Queue
    dedup: Dedup
    conversations: ConversationStore
    classifier: ClassifierHolder
    codec: WechatCodec
    ctx: Context

    def kick_delivery(self) -> None:
        """Ask a worker to deliver owed notices now; if Redis is down the sweep catches up.

        One queued delivery job drains every due row, so a burst of tickets queues one job,
        not one each: the flag is cleared by the job as it starts.
        """
        try:
            if not self.redis.set(kick_flag(self.config), "1", nx=True, ex=KICK_TTL_SECONDS):
                return
            self.queue.enqueue(deliver_due, self.config.source_ref, job_timeout=120, result_ttl=60,
                               failure_ttl=86400)
        except redis.RedisError as e:
            log.warning("delivery not queued (the periodic sweep will catch up): %s", e)


def build_services(config: Config, clock: Clock | None = None, watch_rules: bool = True) -> Services:
    """Open everything the web app needs."""
    clock = clock or SystemClock()
    r = redis.Redis.from_url(embedded.redis_url(config), socket_timeout=2, socket_connect_timeout=2)
    storage = open_storage(config.storage_path)
    holder = ClassifierHolder(config.rules_path, config.data_dir, config.rules_reload_seconds)
    if watch_rules:
        holder.start()
    ctx = Context(config=config, storage=storage, clock=clock, classifier=holder)
    return Services(
        config=config, storage=storage, redis=r, queue=Queue(config.redis_queue, connection=r),
        dedup=Dedup(r, config.redis_prefix),
        conversations=ConversationStore(r, config.redis_prefix, config.conversation_ttl_seconds),
        classifier=holder, codec=WechatCodec(config.wechat), ctx=ctx,
    )


def create_app(config: Config, clock: Clock | None = None, services: Services | None = None) -> Flask:
    """The Flask app factory."""
    from bot.webhook import bp as wechat_bp

    app = Flask("wuye")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.extensions["wuye"] = services or build_services(config, clock)
    app.register_blueprint(wechat_bp)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):  # short reason, never a stack trace
        return jsonify(error=e.name, reason=e.description), e.code

    @app.get("/healthz")
    def _health():
        s: Services = app.extensions["wuye"]
        return jsonify(ok=True, tickets=s.storage.tickets.count(), rules=str(s.classifier.path),
                       rules_error=s.classifier.last_error)

    return app
