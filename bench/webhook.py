"""Webhook throughput and latency in safe (AES) mode, against `wuye serve` as `make run` starts it.

Open loop at a fixed rate (latency measured from each request's scheduled send time, so
queueing is counted), then closed loop with N concurrent senders for the maximum rate.
Every request is a distinct resident message that makes a ticket (classify + SQLite write
+ outbox + reply encryption). Usage: python bench/webhook.py [--rate 100] [--seconds 30]
"""
from __future__ import annotations

import argparse
import signal
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from _common import save_result, fresh_install, free_port, messages, percentile, simulator, start_serve, wait_answered


def build_requests(sim, texts: list[str], tag: str) -> list[tuple[dict, bytes]]:
    now = int(time.time())
    return [(p, b.encode()) for p, b in (sim.request(t, f"o-{tag}-{i}", f"{tag}{i}", now) for i, t in enumerate(texts))]


def open_loop(url: str, reqs, rate: float) -> dict:
    session_local = threading.local()
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.5

    def send(i: int, params: dict, body: bytes) -> None:
        nonlocal errors
        s = getattr(session_local, "s", None) or requests.Session()
        session_local.s = s
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        r = s.post(url, params=params, data=body, timeout=10)
        done = time.perf_counter()
        with lock:
            lat.append(done - scheduled)
            if r.status_code != 200 or "Encrypt" not in r.text:
                errors += 1

    with ThreadPoolExecutor(max_workers=64) as pool:
        for i, (p, b) in enumerate(reqs):
            pool.submit(send, i, p, b)
    wall = time.perf_counter() - t0
    ms = [x * 1000 for x in lat]
    return {"rate": rate, "requests": len(reqs), "errors": errors, "achieved_rps": round(len(reqs) / wall, 1),
            "p50_ms": round(percentile(ms, 50), 2), "p90_ms": round(percentile(ms, 90), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2),
            "mean_ms": round(statistics.mean(ms), 2)}


def closed_loop(url: str, reqs, concurrency: int) -> dict:
    it = iter(reqs)
    lock = threading.Lock()
    lat: list[float] = []

    def worker() -> None:
        s = requests.Session()
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                return
            start = time.perf_counter()
            s.post(url, params=nxt[0], data=nxt[1], timeout=10)
            with lock:
                lat.append(time.perf_counter() - start)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = [x * 1000 for x in lat]
    return {"concurrency": concurrency, "requests": len(lat), "rps": round(len(lat) / wall, 1),
            "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--max-requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    d = fresh_install()
    port = free_port()
    url = f"http://127.0.0.1:{port}/wechat"
    proc = start_serve(d, port)
    try:
        sim = simulator(d)
        wait_answered(url, sim, proc)
        warm = build_requests(sim, messages(200, seed=1), "w")
        closed_loop(url, warm, 4)  # warm-up: connections, caches, SQLite pages
        n = int(args.rate * args.seconds)
        fixed = open_loop(url, build_requests(sim, messages(n, seed=2), "o"), args.rate)
        peak = closed_loop(url, build_requests(sim, messages(args.max_requests, seed=3), "c"), args.concurrency)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    result = {"mode": "safe (AES)", "server": "wuye serve (werkzeug threaded, embedded Redis)",
              "open_loop": fixed, "closed_loop": peak}
    save_result("webhook", result)


if __name__ == "__main__":
    main()
