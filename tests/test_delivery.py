"""Owed notices reach the building group through the WeCom robot; failures retry or are recorded."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.clock import FrozenClock
from bot.jobs import BACKOFF_SECONDS, deliver_rows
from bot.notify import fit_bytes
from conftest import AES_KEY, APPID, START, TOKEN


def _groups(robot, key: str = "k3"):
    return [{"name": "3栋业主群", "buildings": ["3"], "webhook": robot.webhook(key)},
            {"name": "物业总群", "buildings": ["*"], "webhook": robot.webhook("all")}]


def test_new_ticket_alert_reaches_the_building_group(serve, make_config, robot):
    live = serve(make_config(groups=_groups(robot)))
    live.say("3栋1单元1202 楼上水管爆了")
    counts = deliver_rows(live.storage, live.config, live.clock)
    assert counts == {"sent": 1, "retry": 0, "failed": 0}
    body = robot.received[0]
    assert body["msgtype"] == "text"
    assert "新工单 #1" in body["text"]["content"] and "紧急" in body["text"]["content"]
    assert "接单 1" in body["text"]["content"]
    assert body["text"]["mentioned_list"] == ["@all"]  # urgent: the whole group is alerted
    assert live.storage.outbox.for_ticket(1)[0].status == "sent"


def test_phone_numbers_in_group_alerts_are_masked(serve, make_config, robot):
    live = serve(make_config(groups=_groups(robot)))
    live.say("3栋1单元1202 楼道灯坏了 电话13812345678")
    deliver_rows(live.storage, live.config, live.clock)
    content = robot.received[0]["text"]["content"]
    assert "13812345678" not in content and "138****5678" in content


def test_catch_all_group_serves_other_buildings(serve, make_config, robot):
    live = serve(make_config(groups=_groups(robot)))
    live.say("9栋1单元101 路灯不亮")
    deliver_rows(live.storage, live.config, live.clock)
    assert len(robot.received) == 1


def test_rate_limited_robot_is_retried_later_not_dropped(serve, make_config, robot):
    live = serve(make_config(groups=_groups(robot)))
    live.say("3栋1单元1202 楼上水管爆了")
    robot.answers.append((200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    assert deliver_rows(live.storage, live.config, live.clock)["retry"] == 1
    row = live.storage.outbox.for_ticket(1)[0]
    assert row.status == "pending" and "45009" in row.error and row.attempts == 1
    assert deliver_rows(live.storage, live.config, live.clock)["sent"] == 0  # not due yet
    live.clock.advance(seconds=BACKOFF_SECONDS[0])
    assert deliver_rows(live.storage, live.config, live.clock)["sent"] == 1
    assert live.storage.outbox.for_ticket(1)[0].status == "sent"


def test_unreachable_robot_gives_up_after_the_backoff_schedule(serve, make_config):
    live = serve(make_config(groups=[{"buildings": ["*"], "webhook": "http://127.0.0.1:9/cgi-bin/webhook/send?key=x"}]))
    live.say("3栋1单元1202 楼上水管爆了")
    for wait in BACKOFF_SECONDS:
        deliver_rows(live.storage, live.config, live.clock)
        live.clock.advance(seconds=wait)
    row = live.storage.outbox.for_ticket(1)[0]
    assert row.status == "failed" and "unreachable" in row.error and row.attempts == len(BACKOFF_SECONDS)


def test_invalid_webhook_is_a_recorded_permanent_failure(serve, make_config, robot):
    live = serve(make_config(groups=[{"buildings": ["*"], "webhook": robot.webhook().split("?")[0]}]))
    live.say("3栋1单元1202 楼上水管爆了")
    assert deliver_rows(live.storage, live.config, live.clock)["failed"] == 1
    assert "93000" in live.storage.outbox.for_ticket(1)[0].error


def test_no_group_for_building_is_recorded(live):
    live.say("3栋1单元1202 楼上水管爆了")
    deliver_rows(live.storage, live.config, live.clock)
    row = live.storage.outbox.for_ticket(1)[0]
    assert row.status == "failed" and "no group configured for building '3'" in row.error


def test_long_text_is_cut_to_the_robot_limit(serve, make_config, robot):
    live = serve(make_config(groups=_groups(robot)))
    live.say("3栋1单元1202 楼上漏水" + "，水一直往下滴" * 400)
    assert deliver_rows(live.storage, live.config, live.clock)["sent"] == 1
    assert len(robot.received[0]["text"]["content"].encode()) <= 2048
    assert fit_bytes("漏" * 1000).endswith("…")


def _write_config(tmp_path: Path, redis_url: str, prefix: str, robot) -> Path:
    groups = "\n".join(
        f'[[groups]]\nname = "{g["name"]}"\nbuildings = {json.dumps(g["buildings"])}\nwebhook = "{g["webhook"]}"\n'
        for g in _groups(robot))
    path = tmp_path / "config.toml"
    path.write_text(
        f'[wechat]\ntoken = "{TOKEN}"\nappid = "{APPID}"\nencoding_aes_key = "{AES_KEY}"\n'
        f'max_clock_skew_seconds = 0\n'
        f'[storage]\npath = "data/wuye.db"\n[redis]\nurl = "{redis_url}"\nprefix = "{prefix}:"\nqueue = "{prefix}"\n'
        f"{groups}", encoding="utf-8")
    return path


def _wuye(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=60, **kw)


def test_real_worker_delivers_what_the_webhook_owed(serve, tmp_path, redis_url, run_id, robot):
    from bot.config import load_config

    path = _write_config(tmp_path, redis_url, f"wuye-test-{run_id}-w", robot)
    live = serve(load_config(path, env={}))
    live.say("3栋1单元1202 楼上水管爆了")
    assert live.services.queue.count == 1  # the webhook asked for delivery
    done = _wuye("worker", "--burst", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert len(robot.received) == 1 and "新工单 #1" in robot.received[0]["text"]["content"]


def test_scheduler_sweep_catches_up_after_redis_was_down(serve, tmp_path, redis_url, run_id, robot):
    """Ticket made while Redis was unreachable: nothing queued, yet the sweep delivers it later."""
    from bot.config import load_config

    path = _write_config(tmp_path, redis_url, f"wuye-test-{run_id}-s", robot)
    config = load_config(path, env={"WUYE_REDIS_URL": "redis://127.0.0.1:1/0"})
    live = serve(config)
    live.clock = FrozenClock(START)
    assert "工单 #1" in live.say("3栋1单元1202 楼上水管爆了")
    assert live.storage.outbox.for_ticket(1)[0].status == "pending"
    env = {**os.environ, "WUYE_CONFIG": str(path)}
    env.pop("WUYE_REDIS_URL", None)
    sched = subprocess.Popen([sys.executable, "-m", "bot.cli", "scheduler", "--interval", "1", "--config", str(path)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not robot.received and time.monotonic() < deadline:
            _wuye("worker", "--burst", "--config", str(path), env=env)
            time.sleep(0.3)
    finally:
        sched.terminate()
        sched.wait(10)
    assert len(robot.received) == 1
    assert live.storage.outbox.for_ticket(1)[0].status == "sent"
