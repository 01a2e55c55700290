"""Config: TOML into frozen dataclasses; a bad value is refused naming its key."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config import build_config, load_config
from bot.errors import ConfigError

OK = {"wechat": {"token": "abc123"}}


def _cfg(raw, env=None):
    return build_config(raw, base=Path("/srv/wuye"), env=env or {})


def test_defaults_are_the_embedded_setup():
    c = _cfg(OK)
    assert c.redis_url == "" and c.storage_path == Path("/srv/wuye/data/wuye.db")
    assert c.wechat.api_base == "https://api.weixin.qq.com" and c.wechat.max_clock_skew_seconds == 300
    assert not c.wechat.safe_mode
    assert (c.sla["紧急"].claim_minutes, c.sla["紧急"].arrive_minutes, c.sla["紧急"].resolve) == (5, 15, "same_day")
    assert c.sla["一般"].resolve_working_days == 3 and c.sla["重要"].resolve_hours == 24


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _cfg(OK).port = 1  # type: ignore[misc]


@pytest.mark.parametrize("raw, key", [
    ({}, "wechat.token"),
    ({"wechat": {"token": "a b"}}, "wechat.token"),
    ({"wechat": {"token": "abc", "encoding_aes_key": "short"}}, "wechat.encoding_aes_key"),
    ({"wechat": {"token": "abc", "encoding_aes_key": "a" * 43}}, "wechat.appid"),
    ({"wechat": {"token": "abc", "api_base": "ftp://x"}}, "wechat.api_base"),
    ({"wechat": {"token": "abc", "max_clock_skew_seconds": -1}}, "wechat.max_clock_skew_seconds"),
    ({"wechat": {"token": "abc", "max_clock_skew_seconds": "5"}}, "wechat.max_clock_skew_seconds"),
    ({**OK, "sla": {"紧急": {"claim_minutes": 0}}}, "sla.紧急.claim_minutes"),
    ({**OK, "sla": {"重要": {"resolve": "tomorrow"}}}, "sla.重要.resolve"),
    ({**OK, "sla": {"超级": {}}}, "sla.超级"),
    ({**OK, "server": {"port": 70000}}, "server.port"),
    ({**OK, "classifier": {"reload_seconds": float("nan")}}, "classifier.reload_seconds"),
    ({**OK, "classifier": {"reload_seconds": float("inf")}}, "classifier.reload_seconds"),
    ({**OK, "server": "x"}, "server"),
    ({**OK, "property": {"timezone": "Mars/Olympus"}}, "property.timezone"),
    ({**OK, "property": {"buildings": [1, 2]}}, "property.buildings"),
    ({**OK, "menu": {"clicks": {"K": ""}}}, "menu.clicks.K"),
    ({**OK, "groups": [{"buildings": ["1"], "webhook": "nope"}]}, "groups[0].webhook"),
    ({**OK, "groups": [{"buildings": [], "webhook": "http://x"}]}, "groups[0].buildings"),
    ({**OK, "groups": [{"buildings": ["1"], "webhook": "http://a"}, {"buildings": ["1"], "webhook": "http://b"}]},
     "groups[1].buildings"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError) as e:
        _cfg(raw)
    assert str(e.value).startswith(f"{key}:"), str(e.value)


def test_secrets_from_environment_override_the_file():
    c = _cfg({"wechat": {"token": "fromfile"}}, env={"WUYE_WECHAT_TOKEN": "fromenv", "WUYE_REDIS_URL": "redis://h/1"})
    assert c.wechat.token == "fromenv" and c.redis_url == "redis://h/1"


def test_group_lookup_with_catch_all():
    c = _cfg({**OK, "groups": [{"name": "3栋", "buildings": ["3"], "webhook": "http://a"},
                               {"name": "其他", "buildings": ["*"], "webhook": "http://b"}]})
    assert c.group_for("3").name == "3栋" and c.group_for("9").name == "其他"


def test_example_config_loads(tmp_path):
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    text = example.read_text(encoding="utf-8").replace('token = "CHANGE-ME"', 'token = "abc123"')
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    c = load_config(tmp_path / "c.toml", env={})
    assert c.storage_path == tmp_path / "data" / "wuye.db" and c.menu_clicks["HELP"] == "帮助"


def test_unreadable_toml_is_refused_with_the_file_named(tmp_path):
    (tmp_path / "bad.toml").write_text("[wechat\ntoken=", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(tmp_path / "bad.toml", env={})


def test_a_config_that_is_a_directory_or_not_utf8_is_refused_with_the_file_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path, env={})
    (tmp_path / "gbk.toml").write_bytes('[wechat]\ntoken = "物业"\n'.encode("gbk"))
    with pytest.raises(ConfigError, match="gbk.toml: not UTF-8 text"):
        load_config(tmp_path / "gbk.toml", env={})
