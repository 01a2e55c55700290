"""The `wuye` command."""
from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
import requests

from bot.config import Config, load_config
from bot.errors import ConfigError

if TYPE_CHECKING:
    from classifier import Classifier
    from classifier.evaluate import Example

DEFAULT_CONFIG = "config.toml"
TEMPLATE = Path(__file__).with_name("config.example.toml")
config_option = click.option("--config", "config_path", default=lambda: os.environ.get("WUYE_CONFIG", DEFAULT_CONFIG),
                             show_default="config.toml or $WUYE_CONFIG", help="Path to config.toml.")


def _load(config_path: str, need_wechat: bool = True) -> Config:
    """The config file; an absent default config.toml means built-in defaults."""
    path = config_path if Path(config_path).exists() or config_path != DEFAULT_CONFIG else None
    try:
        return load_config(path, need_wechat=need_wechat)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def cli(verbose: bool) -> None:
    """wuye (物业): WeChat complaint-intake bot for residential property management."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(config_path: str, force: bool) -> None:
    """Write config.toml (fresh token and AES key) and an editable rules.toml beside it."""
    from classifier.rules import DEFAULT_RULES_PATH

    target = Path(config_path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite")
    alphabet = string.ascii_letters + string.digits
    token = "".join(secrets.choice(alphabet) for _ in range(32))
    aes_key = "".join(secrets.choice(alphabet) for _ in range(43))  # as the WeChat console makes them
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace('token = "CHANGE-ME"', f'token = "{token}"', 1)
    text = text.replace('encoding_aes_key = ""  # init', f'encoding_aes_key = "{aes_key}"', 1)
    text = text.replace('rules = ""  # init', 'rules = "rules.toml"', 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    rules = target.parent / "rules.toml"
    if not rules.exists() or force:
        rules.write_text(DEFAULT_RULES_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    load_config(target)  # what init writes must load
    click.echo(f"wrote {target} (token and AES key generated) and {rules}")


@cli.command()
@config_option
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", default=None, type=int, help="Listen port (default: server.port).")
def serve(config_path: str, host: str | None, port: int | None) -> None:
    """Web app + RQ worker + scheduler (and the embedded Redis when redis.url is empty)."""
    from werkzeug.serving import make_server

    from bot import embedded
    from bot.app import create_app

    config = _load(config_path)
    url = embedded.redis_url(config)
    app = create_app(config)
    server = make_server(host or config.host, port or config.port, app, threaded=True)
    env = embedded.child_env(config, url)
    env.setdefault("WUYE_CONFIG", str(Path(config_path).resolve()))
    children = [subprocess.Popen([sys.executable, "-m", "bot.cli", role, "--config", config_path], env=env)
                for role in ("worker", "scheduler")]
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a background start inherits it ignored
        signal.signal(signum, _interrupt)
    click.echo(f"wuye serving http://{server.host}:{server.port}/wechat "
               f"(db {config.storage_path}, redis {'embedded' if not config.redis_url else url})", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["wuye"].classifier.stop()
        _stop(children)
        embedded.stop()
        click.echo("wuye stopped", err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen]) -> None:
    for p in children:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in children:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


@cli.command()
@config_option
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker(config_path: str, burst: bool) -> None:
    """An RQ worker for outbound delivery (run any number, on any machine)."""
    import redis
    from rq import SimpleWorker

    from bot import embedded

    config = _load(config_path)
    os.environ.setdefault("WUYE_CONFIG", str(Path(config_path).resolve()))
    conn = redis.Redis.from_url(embedded.redis_url(config))
    SimpleWorker([config.redis_queue], connection=conn).work(burst=burst, logging_level="WARNING")


@cli.command()
@config_option
@click.option("--interval", default=30, show_default=True, help="Seconds between outbox sweeps.")
def scheduler(config_path: str, interval: int) -> None:
    """The RQ cron scheduler: periodic outbox sweep (delivery catches up after any outage)."""
    import redis
    from rq.cron import CronScheduler

    from bot import embedded
    from bot.jobs import deliver_due

    config = _load(config_path)
    conn = redis.Redis.from_url(embedded.redis_url(config))
    cron = CronScheduler(connection=conn, logging_level="WARNING")
    cron.register(deliver_due, queue_name=config.redis_queue, args=(config.source_ref,), interval=interval,
                  job_timeout=120)
    cron.start()


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--status", type=click.Choice(["new", "claimed", "pending", "resolved", "closed", "cancelled"]))
def tickets(config_path: str, as_json: bool, status: str | None) -> None:
    """List tickets."""
    from storage import Status, open_storage

    config = _load(config_path)
    store = open_storage(config.storage_path)
    for t in store.tickets.find(Status(status) if status else None):
        row = {"number": t.number, "status": t.status.value, "channel": t.channel, "category": t.category,
               "urgency": t.urgency, "department": t.department, "building": t.building, "unit": t.unit,
               "room": t.room, "text": t.text, "owner": t.owner, "assignee": t.assignee,
               "created_at": t.created_at, "claim_due": t.claim_due, "resolve_due": t.resolve_due,
               "urge_count": t.urge_count}
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"#{t.number}\t{t.status.value}\t{t.urgency}\t{t.category}\t"
                       f"{t.building}-{t.unit}-{t.room}\t{t.owner or '-'}\t{t.text[:40]}")


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), help="Only notices in this status.")
def outbox(config_path: str, as_json: bool, status: str | None) -> None:
    """Owed notices and their delivery: what is pending, sent, or failed for good (and why)."""
    from storage import open_storage

    config = _load(config_path)
    store = open_storage(config.storage_path)
    if not as_json:
        click.echo("  ".join(f"{k}: {v}" for k, v in sorted(store.outbox.counts().items())) or "no notices")
    for r in store.outbox.find(status):
        row = {"id": r.id, "ticket": r.ticket, "channel": r.channel, "target": r.target, "kind": r.kind,
               "status": r.status, "attempts": r.attempts, "next_at": r.next_at, "error": r.error}
        click.echo(json.dumps(row, ensure_ascii=False) if as_json else
                   f"#{r.id}\tticket {r.ticket}\t{r.channel}:{r.target}\t{r.kind}\t{r.status}\t"
                   f"attempts {r.attempts}\t{r.error}")


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message.")
@click.option("--explain", is_flag=True, help="Show tokens, every rule that fired and the scores.")
@click.argument("text", required=False)
def classify(config_path: str, as_json: bool, explain: bool, text: str | None) -> None:
    """Classify TEXT, or one message per stdin line."""
    clf = _classifier(config_path, None)
    lines = [text] if text is not None else (line.rstrip("\n") for line in sys.stdin)
    for line in lines:
        if not line.strip():
            continue
        result = clf.explain(line) if explain else clf.classify(line).as_dict()
        if as_json or text is None:
            click.echo(json.dumps(result, ensure_ascii=False))
        else:
            click.echo(_explain_text(result) if explain else
                       f"{result['category']}\t{result['urgency']}\t{result['score']:g}\t{' '.join(result['matched'])}")


def _classifier(config_path: str, rules_path: str | None) -> Classifier:
    """The classifier for rules_path, or for the configured rules; a bad file is refused by key."""
    from classifier import Classifier

    config = _load(config_path, need_wechat=False)
    try:
        return Classifier.from_file(_rules_file(config, rules_path), config.data_dir)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def _explain_text(r: dict) -> str:
    lines = [f"category: {r['category']} (score {r['score']:.2f}, department {r['department']})",
             f"urgency:  {r['urgency']} — {r['urgency_reason']}",
             f"read as:  {r['read_as']}",
             f"tokens:   {' / '.join(r['tokens'])}", "rules fired:"]
    lines += [f"  {h['word']} → {h['target']}" + (f" (+{h['weight']:g})" if h["weight"] else "")
              + (" [does not count]" if h["cancelled"] else "") + f"  ({h['rule']})"
              for h in r["rules"]] or ["  (none)"]
    lines.append("keyword points: " + (", ".join(f"{c} {s:g}" for c, s in list(r["scores"].items())[:5]) or "none"))
    if r.get("model_scores"):
        lines.append("model (weight × margin): " + ", ".join(f"{c} {s:+.2f}" for c, s in list(r["model_scores"].items())[:5]))
        lines.append("model urgency margins: " + ", ".join(f"{lv} {m:+.2f}" for lv, m in r["model_urgency"].items()))
        for label, pieces in r.get("model_pieces", {}).items():
            lines.append(f"  pieces for {label}: " + ", ".join(f"{g!r} {w:+.2f}" for g, w in pieces))
    return "\n".join(lines)


@cli.group()
def rules() -> None:
    """Check and evaluate the classification rules."""


def _rules_file(config: Config, file: str | None) -> Path | None:
    """FILE when given, else the configured rules (None: the packaged defaults)."""
    return Path(file) if file else config.rules_path


@rules.command("check")
@config_option
@click.argument("file", required=False)
def rules_check(config_path: str, file: str | None) -> None:
    """Validate FILE (default: the configured rules); a problem is named by its key."""
    from classifier import ignored_categories, model_for
    from classifier.rules import DEFAULT_RULES_PATH, load_rules

    path = _rules_file(_load(config_path, need_wechat=False), file)
    try:
        r = load_rules(path)
        model = model_for(r)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    words = sum(len(c.keywords) for c in r.categories.values())
    click.echo(f"{path or DEFAULT_RULES_PATH}: ok — {len(r.categories)} categories, {words} keywords, "
               f"{sum(len(k) for k in r.urgency_keywords.values())} urgency phrases; "
               + (f"model {model.source} ({len(model.pieces)} pieces)" if model else "no model (keyword rules only)"))
    ignored = ignored_categories(model, r) if model else ()
    if ignored:
        click.echo(f"note: the model also knows {', '.join(ignored)}, which the rules do not have; those "
                   "margins are ignored (re-fit the model with `wuye rules fit` to use what it learned)")


def _examples(data: tuple[str, ...]) -> list[Example]:
    """The labelled messages of every DATA file, in order; a bad file or line is refused."""
    from classifier.evaluate import read_examples

    try:
        return [e for path in data for e in read_examples(Path(path))]
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


@rules.command("eval")
@config_option
@click.option("--rules", "rules_path", default=None, help="Rules file to evaluate (default: the configured rules).")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.option("--min-accuracy", type=float, default=None, help="Exit non-zero when category accuracy is below this.")
@click.option("--min-urgent-recall", type=float, default=None,
              help="Exit non-zero when the share of 紧急 messages labelled 紧急 is below this.")
@click.option("--min-urgent-precision", type=float, default=None,
              help="Exit non-zero when the share of messages labelled 紧急 that are 紧急 is below this.")
@click.option("--baseline", "baseline_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Another rules file (e.g. the one in force): show its figures beside these and every "
                   "message whose label changes.")
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def rules_eval(config_path: str, rules_path: str | None, as_json: bool, min_accuracy: float | None,
               min_urgent_recall: float | None, min_urgent_precision: float | None,
               baseline_path: str | None, data: tuple[str, ...]) -> None:
    """Classify labelled DATA files (JSON lines: text, category, urgency), taken together, and
    report how the rules did."""
    from classifier.evaluate import compare, evaluate, format_comparison, format_report

    clf = _classifier(config_path, rules_path)
    baseline = _classifier(config_path, baseline_path) if baseline_path else None
    examples = _examples(data)
    report = compare(clf, baseline, examples) if baseline else evaluate(clf, examples)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        click.echo(format_report(report) + (format_comparison(report) if baseline else ""))
    gates = (("accuracy", "--min-accuracy", min_accuracy), ("urgent_recall", "--min-urgent-recall", min_urgent_recall),
             ("urgent_precision", "--min-urgent-precision", min_urgent_precision))
    below = [(key, flag, floor) for key, flag, floor in gates if floor is not None and report[key] < floor]
    for key, flag, floor in below:  # every gate that failed, so one run tells the admin all of it
        click.echo(f"{key.replace('_', ' ')} {report[key]:.3f} is below {flag} {floor}", err=True)
    if below:
        sys.exit(1)


@rules.command("suggest")
@config_option
@click.option("--rules", "rules_path", default=None, help="Rules file (default: the configured rules).")
@click.option("--min-count", default=2, show_default=True, help="Misclassified messages a word must stand in.")
@click.option("--min-precision", default=0.8, show_default=True, help="Share of a word's messages in the category.")
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def rules_suggest(config_path: str, rules_path: str | None, min_count: int, min_precision: float,
                  data: tuple[str, ...]) -> None:
    """Propose keywords, from labelled DATA files, that would mend category mistakes."""
    from classifier.evaluate import suggest

    clf = _classifier(config_path, rules_path)
    for s in suggest(clf, _examples(data), min_count, min_precision):
        click.echo(f'[categories."{s["category"]}".keywords] "{s["word"]}" = {s["weight"]}'
                   f'    # {s["misclassified"]} mistakes, {s["occurrences"]} uses, precision {s["precision"]}')


@rules.command("fit")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Model file to write (point [model] file at it; a running server reloads it).")
@click.option("--min-count", default=2, show_default=True, help="Messages a piece must appear in to get a weight.")
@click.option("--max-iter", default=None, type=click.IntRange(min=1),
              help="The solver's iteration limit (default: 5000); raise it if the fit "
                   "says it stopped there.")
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def rules_fit(out: str, min_count: int, max_iter: int | None, data: tuple[str, ...]) -> None:
    """Fit the model from labelled DATA files (JSON lines: text, category, urgency)."""
    from classifier.extract import normalize
    from classifier.model import MAX_ITER, fit_model, save_model

    examples = _examples(data)
    for field, values in (("category", {e.category for e in examples}), ("urgency", {e.urgency for e in examples})):
        if len(values) < 2:
            raise click.ClickException(f"the data name only one {field}; a model needs at least two")
    limit = max_iter or MAX_ITER
    try:
        model = fit_model([normalize(e.text) for e in examples], [e.category for e in examples],
                          [e.urgency for e in examples], min_count=min_count, max_iter=limit)
    except ValueError as e:  # scikit-learn's refusals, or a weight too large to pack
        raise click.ClickException(f"cannot fit a model on these data: {e}") from None
    save_model(model, Path(out))
    click.echo(f"wrote {out}: {len(model.pieces)} pieces, {len(model.categories)} categories, "
               f"from {len(examples)} messages; check it with `wuye rules eval` on data it was not fitted on")
    if not model.converged:
        click.echo(f"note: the solver stopped at its limit of {limit} iterations before converging; the model "
                   "works, but a fit with a higher --max-iter is the one its settings describe", err=True)


@cli.command()
@config_option
@click.option("--url", default=None, help="Webhook URL (default: http://server.host:server.port/wechat).")
@click.option("--openid", default="o-wuye-cli", show_default=True, help="The resident's openid.")
@click.argument("text")
def say(config_path: str, url: str | None, openid: str, text: str) -> None:
    """Post TEXT to a running server exactly as WeChat would, and print the reply."""
    config = _load(config_path)
    click.echo(_say(config, url, openid, text) or "(no reply)")


@cli.command()
@config_option
@click.option("--url", default=None, help="Webhook URL (default: http://server.host:server.port/wechat).")
@click.option("--openid", default="o-wuye-chat", show_default=True, help="The resident's openid.")
def chat(config_path: str, url: str | None, openid: str) -> None:
    """An interactive resident session (Ctrl-D to end)."""
    config = _load(config_path)
    while True:
        try:
            text = click.prompt("您", prompt_suffix="：")
        except (EOFError, click.Abort):
            click.echo()
            return
        click.echo(f"物业：{_say(config, url, openid, text) or '(no reply)'}")


def _say(config: Config, url: str | None, openid: str, text: str) -> str:
    from bot.wechat import SimulatedWechat

    sim = SimulatedWechat(config.wechat)
    params, body = sim.request(text, openid, str(secrets.randbits(63)), int(time.time()))
    target = url or f"http://{config.host}:{config.port}/wechat"
    try:
        resp = requests.post(target, params=params, data=body.encode("utf-8"), timeout=10,
                             headers={"Content-Type": "text/xml"})
    except requests.RequestException as e:
        raise click.ClickException(f"cannot reach {target}: {e}") from None
    if resp.status_code != 200:
        raise click.ClickException(f"server refused: HTTP {resp.status_code} {resp.text.strip()}")
    return sim.read_reply(resp.content.decode("utf-8"))


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
