"""Hot reload of the rules: a running server picks up an edit; a broken edit keeps the old rules."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from bot.reloader import ClassifierHolder
from classifier.rules import DEFAULT_RULES_PATH
from test_cli import _env, _free_port, _wait_up, wuye

NEW_WORD = "平衡车"  # not a keyword in the shipped rules


def _add_keyword(path: Path, category: str, word: str, weight: int = 20) -> None:
    # 20: above the model's say (weight 5 × a margin of about ±1 on each side, plus 停车's own
    # keyword points for 乱停), which is how an admin makes a keyword decide on its own
    text = path.read_text(encoding="utf-8")
    marker = f'[categories."{category}".keywords]\n'
    assert marker in text
    path.write_text(text.replace(marker, f'{marker}"{word}" = {weight}\n', 1), encoding="utf-8")


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 5))  # a distinct mtime even on coarse clocks


def test_holder_swaps_rules_on_edit_and_keeps_them_on_a_broken_edit(tmp_path, caplog):
    rules = tmp_path / "rules.toml"
    rules.write_text(DEFAULT_RULES_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    holder = ClassifierHolder(rules, tmp_path / "cache", interval=0.1)
    assert NEW_WORD not in holder().rules.index
    assert holder().classify(NEW_WORD + "乱停").category == "停车"
    _add_keyword(rules, "绿化", NEW_WORD)
    _touch_later(rules)
    assert holder.reload_if_changed()
    good = holder()
    assert good.classify(NEW_WORD + "乱停").category == "绿化"
    rules.write_text(rules.read_text(encoding="utf-8").replace('urgency = "一般"', 'urgency = "超急"', 1),
                     encoding="utf-8")
    _touch_later(rules)
    assert not holder.reload_if_changed()
    assert holder() is good
    assert "urgency" in holder.last_error and "超急" in holder.last_error
    assert "previous rules stay in force" in caplog.text


def test_running_server_reloads_edited_rules_within_seconds(tmp_path):
    """Real process, real file edit: `wuye serve` classifies with the new rule, then refuses a broken one."""
    assert wuye("init", cwd=tmp_path).returncode == 0
    config = tmp_path / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("reload_seconds = 2.0", "reload_seconds = 0.2"),
                      encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/wechat"
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=tmp_path,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_up(port, proc)
        before = wuye("say", "--url", url, "--openid", "o1", f"1栋1单元101 {NEW_WORD}乱停", cwd=tmp_path).stdout
        assert "类别：停车" in before
        rules = tmp_path / "rules.toml"
        _add_keyword(rules, "绿化", NEW_WORD)
        _touch_later(rules)
        reply = _until(lambda: wuye("say", "--url", url, "--openid", "o2", f"1栋1单元102 {NEW_WORD}乱停",
                                    cwd=tmp_path).stdout, "类别：绿化", seconds=10)
        assert "类别：绿化" in reply
        rules.write_text(rules.read_text(encoding="utf-8") + '\n[categories."坏的"]\nurgency = "超急"\n',
                         encoding="utf-8")
        _touch_later(rules)
        health = _until(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()["rules_error"],
                        "超急", seconds=10)
        assert "categories.坏的.urgency" in health
        still = wuye("say", "--url", url, "--openid", "o3", f"1栋1单元103 {NEW_WORD}乱停", cwd=tmp_path).stdout
        assert "类别：绿化" in still  # the last good rules stay in force
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert "rules not reloaded" in out and "categories.坏的.urgency" in out


def _until(fn, expected: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        last = fn()
        if expected in last:
            return last
        time.sleep(0.2)
    return last
