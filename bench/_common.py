"""Shared bench helpers: a fresh install in a temp dir, a server process, signed requests."""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from bot.wechat import SimulatedWechat  # noqa: E402


def fresh_install(redis_url: str = "") -> Path:
    """`wuye init` in a new temp dir (safe mode: init generates an AES key)."""
    d = Path(tempfile.mkdtemp(prefix="wuye-bench-"))
    subprocess.run([sys.executable, "-m", "bot.cli", "init"], cwd=d, check=True, capture_output=True, env=env())
    if redis_url:
        cfg = d / "config.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8").replace('url = ""', f'url = "{redis_url}"', 1), encoding="utf-8")
    return d


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("WUYE_")}
    e["PYTHONPATH"] = str(ROOT)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(d: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=d, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def simulator(d: Path) -> SimulatedWechat:
    return SimulatedWechat(load_config(d / "config.toml", need_wechat=True).wechat)


def messages(n: int, seed: int = 7) -> list[str]:
    """Realistic complaint texts (from the labelled tuning set), each with a location."""
    path = ROOT / "tests" / "data" / "messages_tune.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    return [f"{rng.randint(1, 20)}栋{rng.randint(1, 4)}单元{rng.randint(1, 30)}0{rng.randint(1, 4)} {rng.choice(texts)}"
            for _ in range(n)]


def wait_answered(url: str, sim: SimulatedWechat, proc: subprocess.Popen, timeout: float = 60) -> float:
    """Poll with a real signed message until the server answers; returns the time it did."""
    deadline = time.monotonic() + timeout
    i = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        i += 1
        params, body = sim.request("帮助", f"o-probe-{i}", str(10**12 + i), int(time.time()))
        try:
            r = requests.post(url, params=params, data=body.encode(), timeout=2)
            if r.status_code == 200 and sim.read_reply(r.text):
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(0.01)
    raise RuntimeError("server never answered")


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def save_result(name: str, result: dict) -> None:
    """Write bench/out/<name>.json and print it."""
    text = json.dumps(result, indent=2, ensure_ascii=False)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(text, encoding="utf-8")
    print(text)
