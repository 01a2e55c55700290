"""The `wuye` command, run as a real process."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests


def wuye(*args: str, cwd: Path | None = None, input: str | None = None, env: dict | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=cwd,
                          input=input, timeout=timeout, env=env or _env())


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WUYE_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def initialized(tmp_path: Path) -> Path:
    done = wuye("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def test_init_writes_a_loadable_config_with_fresh_secrets(initialized):
    text = (initialized / "config.toml").read_text(encoding="utf-8")
    assert 'token = "CHANGE-ME"' not in text
    assert (initialized / "rules.toml").exists()
    again = wuye("init", cwd=initialized)
    assert again.returncode != 0 and "exists" in again.stderr


def test_init_secrets_differ_between_installs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    wuye("init", cwd=a), wuye("init", cwd=b)
    assert (a / "config.toml").read_text() != (b / "config.toml").read_text()


def test_bad_config_is_refused_naming_the_key(tmp_path):
    (tmp_path / "config.toml").write_text('[wechat]\ntoken = "abc"\n[sla."紧急"]\nclaim_minutes = 0\n', encoding="utf-8")
    done = wuye("tickets", cwd=tmp_path)
    assert done.returncode != 0
    assert "sla.紧急.claim_minutes: must be > 0" in done.stderr
    assert "Traceback" not in done.stderr


def test_classify_text_and_stdin_json_lines(tmp_path):
    one = wuye("classify", "--json", "电梯里有人被困！", cwd=tmp_path)
    assert json.loads(one.stdout)["urgency"] == "紧急"
    many = wuye("classify", cwd=tmp_path, input="楼下广场舞太吵了\n\n物业费怎么交\n")
    rows = [json.loads(line) for line in many.stdout.splitlines()]
    assert [r["category"] for r in rows] == ["噪音", "收费"]
    assert all({"category", "urgency", "score", "matched"} <= set(r) for r in rows)


def test_serve_say_tickets_and_clean_stop(initialized):
    """`make run`'s path: embedded Redis + worker + scheduler, `wuye say`, then Ctrl-C stops everything."""
    port = _free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=initialized,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_up(port, proc)
        startup = time.monotonic() - started
        said = wuye("say", "--url", f"http://127.0.0.1:{port}/wechat", "3栋2单元1201 楼上卫生间漏水，水一直往下滴",
                    cwd=initialized)
        assert said.returncode == 0, said.stderr
        assert "工单 #1" in said.stdout and "漏水" in said.stdout and "紧急" in said.stdout
        assert "5分钟内响应" in said.stdout
        listed = wuye("tickets", "--json", cwd=initialized)
        row = json.loads(listed.stdout.splitlines()[0])
        assert {"number", "status", "channel", "category", "urgency", "building", "unit", "room", "text",
                "owner", "created_at"} <= set(row)
        assert (row["number"], row["building"], row["room"]) == (1, "3", "1201")
        assert startup < 10  # generous here; bench/ measures the real figure
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, out
    assert "wuye stopped" in out
    pid = int(re.search(r"embedded Redis started \(pid (\d+)", out).group(1))
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)  # the embedded Redis went with it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(") ", 1)[1][0] != "Z"  # a zombie awaiting its parent is gone for our purposes


def test_chat_reads_lines_until_eof(initialized):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=initialized,
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_up(port, proc)
        done = wuye("chat", "--url", f"http://127.0.0.1:{port}/wechat", cwd=initialized,
                    input="电梯坏了，有人被困\n5栋1单元\n")
        assert "位置" in done.stdout and "工单 #1" in done.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0


def test_say_to_a_server_that_is_not_running_is_a_clear_error(initialized):
    done = wuye("say", "--url", f"http://127.0.0.1:{_free_port()}/wechat", "hi", cwd=initialized)
    assert done.returncode != 0 and "cannot reach" in done.stderr


def _wait_up(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.05)
    raise AssertionError("serve did not come up")
