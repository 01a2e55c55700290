"""Start-up: process start of `wuye serve` to the first answered (signed, safe-mode) request.

Cold = a fresh install whose data dir has no jieba dictionary cache yet; warm = the cache
was built by an earlier start. Usage: python bench/startup.py [--runs 5]
"""
from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import time
from pathlib import Path

from _common import save_result, fresh_install, free_port, simulator, start_serve, wait_answered


def one_start(d: Path) -> float:
    port = free_port()
    sim = simulator(d)
    t0 = time.monotonic()
    proc = start_serve(d, port)
    try:
        answered = wait_answered(f"http://127.0.0.1:{port}/wechat", sim, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    return answered - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    cold, warm = [], []
    for _ in range(args.runs):
        d = fresh_install()
        cold.append(one_start(d))
        warm.append(one_start(d))
        shutil.rmtree(d, ignore_errors=True)
    result = {"runs": args.runs,
              "cold_s": {"median": round(statistics.median(cold), 3), "max": round(max(cold), 3)},
              "warm_s": {"median": round(statistics.median(warm), 3), "max": round(max(warm), 3)}}
    save_result("startup", result)


if __name__ == "__main__":
    main()
