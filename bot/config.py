"""Load config.toml once into frozen dataclasses; refuse bad values naming the key."""
from __future__ import annotations

import base64
import binascii
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError

URGENCY_LEVELS = ("紧急", "重要", "一般")
DEFAULT_SLA = {
    "紧急": {"claim_minutes": 5, "arrive_minutes": 15, "resolve": "same_day"},
    "重要": {"claim_minutes": 60, "arrive_minutes": 0, "resolve": "24h"},
    "一般": {"claim_minutes": 0, "arrive_minutes": 0, "resolve": "3wd"},
}
DEFAULT_MENU_CLICKS = {"MY_TICKETS": "我的工单", "HELP": "帮助", "REPORT": "报修"}
ENV_OVERRIDES = {
    "WUYE_WECHAT_TOKEN": ("wechat", "token"),
    "WUYE_WECHAT_APPID": ("wechat", "appid"),
    "WUYE_WECHAT_ENCODING_AES_KEY": ("wechat", "encoding_aes_key"),
    "WUYE_WECHAT_SECRET": ("wechat", "secret"),
    "WUYE_REDIS_URL": ("redis", "url"),
    "WUYE_STORAGE_PATH": ("storage", "path"),
}
_RESOLVE_RE = re.compile(r"^(same_day|(\d+)h|(\d+)wd)$")


@dataclass(frozen=True)
class WechatConfig:
    token: str
    appid: str = ""
    encoding_aes_key: str = ""
    secret: str = ""
    api_base: str = "https://api.weixin.qq.com"
    max_clock_skew_seconds: int = 300

    @property
    def safe_mode(self) -> bool:
        """True when an AES key is configured (safe or compatible mode)."""
        return bool(self.encoding_aes_key)


@dataclass(frozen=True)
class SlaLevel:
    claim_minutes: int
    arrive_minutes: int
    resolve: str  # "same_day", "<N>h" or "<N>wd" (Chinese working days)

    @property
    def resolve_hours(self) -> int:
        """Hours to resolve for an "<N>h" rule, else 0."""
        m = _RESOLVE_RE.match(self.resolve)
        return int(m.group(2)) if m and m.group(2) else 0

    @property
    def resolve_working_days(self) -> int:
        """Working days to resolve for an "<N>wd" rule, else 0."""
        m = _RESOLVE_RE.match(self.resolve)
        return int(m.group(3)) if m and m.group(3) else 0


@dataclass(frozen=True)
class GroupConfig:
    """One building group chat: its buildings and the WeCom group-robot webhook that posts to it."""

    name: str
    buildings: tuple[str, ...]  # "*" = every building without a group of its own
    webhook: str


@dataclass(frozen=True)
class Config:
    wechat: WechatConfig
    storage_path: Path
    redis_url: str
    redis_prefix: str
    redis_queue: str
    data_dir: Path
    host: str
    port: int
    max_body_bytes: int
    timezone: str
    property_name: str
    hotline: str
    buildings: tuple[str, ...]
    conversation_ttl_seconds: int
    rules_path: Path | None
    rules_reload_seconds: float
    menu_clicks: dict[str, str] = field(default_factory=dict)
    sla: dict[str, SlaLevel] = field(default_factory=dict)
    groups: tuple[GroupConfig, ...] = ()
    source: Path | None = None

    def group_for(self, building: str) -> GroupConfig | None:
        """The group that serves a building (its own, else the "*" group)."""
        for g in self.groups:
            if building in g.buildings:
                return g
        return next((g for g in self.groups if "*" in g.buildings), None)

    @property
    def source_ref(self) -> str:
        """The config file's absolute path for other processes and queued jobs ('' = none)."""
        return str(self.source.resolve()) if self.source else ""

    @property
    def tz(self) -> ZoneInfo:
        """The property's local time zone."""
        return ZoneInfo(self.timezone)


def load_config(path: str | os.PathLike[str] | None, env: dict[str, str] | None = None,
                need_wechat: bool = True) -> Config:
    """Read a TOML file (or defaults when path is None) and validate it.

    need_wechat=False serves offline tools (classify, rules): an empty token is then allowed.
    """
    env = dict(os.environ) if env is None else env
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: file not found (run `wuye init` to create one)") from None
        except OSError as e:  # a directory, no permission
            raise ConfigError(f"{p}: cannot be read: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from None
        base = p.resolve().parent
    return build_config(raw, base=base, env=env, source=Path(path) if path else None, need_wechat=need_wechat)


def build_config(raw: dict[str, Any], base: Path, env: dict[str, str], source: Path | None = None,
                 need_wechat: bool = True) -> Config:
    """Validate a parsed TOML mapping into a Config."""
    raw = _apply_env(raw, env)
    if not need_wechat and not (raw.get("wechat") or {}).get("token"):
        raw = {**raw, "wechat": {**(raw.get("wechat") or {}), "token": "offline"}}
    r = _Reader(raw)
    storage_path = base / r.str("storage.path", "data/wuye.db", nonempty=True)
    rules = r.str("classifier.rules", "")
    tzname = r.str("property.timezone", "Asia/Shanghai", nonempty=True)
    try:
        ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"property.timezone: unknown time zone {tzname!r}") from None
    return Config(
        wechat=_wechat(r),
        storage_path=storage_path,
        redis_url=r.str("redis.url", ""),
        redis_prefix=r.str("redis.prefix", "wuye:", nonempty=True),
        redis_queue=r.str("redis.queue", "wuye", nonempty=True),
        data_dir=storage_path.parent,
        host=r.str("server.host", "127.0.0.1", nonempty=True),
        port=r.int("server.port", 8000, lo=1, hi=65535),
        max_body_bytes=r.int("server.max_body_bytes", 65536, lo=1024),
        timezone=tzname,
        property_name=r.str("property.name", "物业服务中心"),
        hotline=r.str("property.hotline", ""),
        buildings=tuple(r.str_list("property.buildings")),
        conversation_ttl_seconds=r.int("conversation.ttl_seconds", 1800, lo=60),
        rules_path=(base / rules) if rules else None,
        rules_reload_seconds=r.float("classifier.reload_seconds", 2.0, lo=0.1),
        menu_clicks=r.str_map("menu.clicks", DEFAULT_MENU_CLICKS),
        sla=_sla(r),
        groups=_groups(r),
        source=source,
    )


def _apply_env(raw: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for var, (section, key) in ENV_OVERRIDES.items():
        if var in env:
            sec = out.setdefault(section, {})
            if not isinstance(sec, dict):
                raise ConfigError(f"{section}: must be a table")
            sec[key] = env[var]
    return out


def _wechat(r: "_Reader") -> WechatConfig:
    token = r.str("wechat.token", "", nonempty=True)
    if not re.fullmatch(r"[A-Za-z0-9]{3,32}", token):
        raise ConfigError("wechat.token: must be 3-32 letters or digits, as WeChat requires")
    aes = r.str("wechat.encoding_aes_key", "")
    appid = r.str("wechat.appid", "")
    if aes:
        _check_aes_key(aes)
        if not appid:
            raise ConfigError("wechat.appid: required when wechat.encoding_aes_key is set (safe mode)")
    api_base = r.str("wechat.api_base", "https://api.weixin.qq.com", nonempty=True)
    if not api_base.startswith(("http://", "https://")):
        raise ConfigError("wechat.api_base: must be an http(s) URL")
    return WechatConfig(
        token=token,
        appid=appid,
        encoding_aes_key=aes,
        secret=r.str("wechat.secret", ""),
        api_base=api_base.rstrip("/"),
        max_clock_skew_seconds=r.int("wechat.max_clock_skew_seconds", 300, lo=0),
    )


def _check_aes_key(aes: str) -> None:
    if len(aes) != 43:
        raise ConfigError("wechat.encoding_aes_key: must be 43 characters (or empty for plain mode)")
    try:
        key = base64.b64decode(aes + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("wechat.encoding_aes_key: not valid base64") from None
    if len(key) != 32:
        raise ConfigError("wechat.encoding_aes_key: must decode to 32 bytes")


def _sla(r: "_Reader") -> dict[str, SlaLevel]:
    table = r.table("sla")
    for level in table:
        if level not in URGENCY_LEVELS:
            raise ConfigError(f"sla.{level}: unknown urgency level (use {', '.join(URGENCY_LEVELS)})")
    out = {}
    for level in URGENCY_LEVELS:
        d = DEFAULT_SLA[level]
        claim = r.int(f"sla.{level}.claim_minutes", d["claim_minutes"], lo=0)
        if level != "一般" and claim <= 0:
            raise ConfigError(f"sla.{level}.claim_minutes: must be > 0")
        resolve = r.str(f"sla.{level}.resolve", d["resolve"], nonempty=True)
        m = _RESOLVE_RE.match(resolve)
        if not m or resolve in ("0h", "0wd"):
            raise ConfigError(f"sla.{level}.resolve: must be \"same_day\", \"<N>h\" or \"<N>wd\" with N > 0")
        out[level] = SlaLevel(claim, r.int(f"sla.{level}.arrive_minutes", d["arrive_minutes"], lo=0), resolve)
    return out


def _groups(r: "_Reader") -> tuple[GroupConfig, ...]:
    raw = r.get("groups", [])
    if not isinstance(raw, list) or not all(isinstance(g, dict) for g in raw):
        raise ConfigError("groups: must be an array of tables ([[groups]])")
    out, seen = [], {}
    for i, g in enumerate(raw):
        key = f"groups[{i}]"
        sub = _Reader(g, prefix=f"{key}.")
        name = sub.str("name", f"group {i + 1}", nonempty=True)
        buildings = tuple(sub.str_list("buildings"))
        if not buildings:
            raise ConfigError(f"{key}.buildings: list at least one building (or \"*\")")
        for b in buildings:
            if b in seen:
                raise ConfigError(f"{key}.buildings: {b!r} is already served by groups[{seen[b]}]")
            seen[b] = i
        webhook = sub.str("webhook", "", nonempty=True)
        if not webhook.startswith(("http://", "https://")):
            raise ConfigError(f"{key}.webhook: must be an http(s) URL")
        out.append(GroupConfig(name, buildings, webhook))
    return tuple(out)


class _Reader:
    """Typed look-ups by dotted key that raise ConfigError naming the key."""

    def __init__(self, raw: dict[str, Any], prefix: str = "") -> None:
        self.raw = raw
        self.prefix = prefix  # how error messages name this table, e.g. "groups[0]."

    def get(self, key: str, default: Any) -> Any:
        node: Any = self.raw
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict):
                raise ConfigError(f"{self.prefix}{'.'.join(parts[:i])}: must be a table")
            if part not in node:
                return default
            node = node[part]
        return node

    def table(self, key: str) -> dict[str, Any]:
        v = self.get(key, {})
        if not isinstance(v, dict):
            raise ConfigError(f"{self.prefix}{key}: must be a table")
        return v

    def str(self, key: str, default: str, nonempty: bool = False) -> str:
        v = self.get(key, default)
        if not isinstance(v, str):
            raise ConfigError(f"{self.prefix}{key}: must be a string")
        if nonempty and not v.strip():
            raise ConfigError(f"{self.prefix}{key}: must not be empty")
        return v.strip()

    def int(self, key: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{self.prefix}{key}: must be an integer")
        if lo is not None and v < lo:
            raise ConfigError(f"{self.prefix}{key}: must be >= {lo}" if lo else f"{self.prefix}{key}: must be >= 0")
        if hi is not None and v > hi:
            raise ConfigError(f"{self.prefix}{key}: must be <= {hi}")
        return v

    def float(self, key: str, default: float, lo: float) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{self.prefix}{key}: must be a number")
        if not math.isfinite(v):  # TOML allows nan and inf
            raise ConfigError(f"{self.prefix}{key}: must be finite, not {v}")
        if v < lo:
            raise ConfigError(f"{self.prefix}{key}: must be >= {lo}")
        return float(v)

    def str_list(self, key: str) -> list[str]:
        v = self.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise ConfigError(f"{self.prefix}{key}: must be a list of non-empty strings")
        return [x.strip() for x in v]

    def str_map(self, key: str, default: dict[str, str]) -> dict[str, str]:
        v = self.get(key, default)
        if not isinstance(v, dict):
            raise ConfigError(f"{self.prefix}{key}: must be a table")
        for k, x in v.items():
            if not isinstance(x, str) or not x.strip():
                raise ConfigError(f"{self.prefix}{key}.{k}: must be a non-empty string")
        return {k: x.strip() for k, x in v.items()}
