"""The fitted model: file round trip, refusals naming the key, how it joins the keyword rules,
`wuye rules fit`, and reload of an edited model file."""
from __future__ import annotations

import json
import os
import re
import tomllib
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from bot.errors import RulesError
from bot.reloader import ClassifierHolder
from classifier import Classifier
from classifier.evaluate import read_examples
from classifier.extract import normalize
from classifier.model import (MAX_WEIGHT, Model, data_digest, fit_model, load_model, pack, pieces_of, save_model,
                              vocabulary)
from classifier.rules import DEFAULT_RULES_PATH, parse_rules
from test_cli import wuye

DATA = Path(__file__).parent / "data"
SMALL = DATA / "messages_tune.jsonl"


@pytest.fixture(scope="module")
def small_fit() -> Model:
    """A model fitted on one tuning file."""
    examples = read_examples(SMALL)
    return fit_model([normalize(e.text) for e in examples], [e.category for e in examples],
                     [e.urgency for e in examples])


@pytest.fixture(scope="module")
def small_model(small_fit, tmp_path_factory) -> Path:
    """The same model, saved to disk."""
    path = tmp_path_factory.mktemp("model") / "small.zip"
    save_model(small_fit, path)
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _raw(**model: object) -> dict:
    raw = tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    if model:
        raw["model"] = model
    else:
        raw.pop("model")
    return raw


def _refusal(raw: dict, source: str = "") -> str:
    with pytest.raises(RulesError) as e:
        Classifier(parse_rules(raw, source))
    return str(e.value)


def test_saved_model_loads_with_the_same_margins(small_fit, small_model):
    model = load_model(small_model)
    for e in read_examples(SMALL)[:50]:
        for mine, theirs in zip(model.margins(normalize(e.text)), small_fit.margins(normalize(e.text))):
            assert mine == pytest.approx(theirs, abs=1e-3)
    assert set(model.levels) == {"紧急", "重要", "一般"} and "其他" in model.categories


def test_margins_are_the_sum_of_the_pieces_weights(small_model):
    model = load_model(small_model)
    text = "电梯坏了"
    cats, levels = model.margins(text)
    pieces = [model.weights_of(g) for g in {"电", "梯", "坏", "了", "电梯", "梯坏", "坏了"}]
    by_hand = [sum(w[i] for w in pieces if w is not None) + b for i, b in enumerate(model.bias)]
    assert [*cats.values(), *levels.values()] == pytest.approx(by_hand, abs=1e-6)


def test_a_piece_counts_as_often_as_it_occurs(small_model):
    model = load_model(small_model)
    once, twice = model.margins("漏水"), model.margins("漏水漏水")
    w = {g: model.weights_of(g) for g in ("漏", "水", "漏水", "水漏")}
    for i, (a, b) in enumerate(zip([*once[0].values(), *once[1].values()], [*twice[0].values(), *twice[1].values()])):
        extra = w["漏"][i] + w["水"][i] + w["漏水"][i] + (w["水漏"][i] if w["水漏"] else 0.0)
        assert b == pytest.approx(a + extra, abs=1e-6)


def test_a_text_longer_than_one_sum_can_hold_is_summed_in_parts(small_model):
    """Past 65,536 pieces a 32-bit field could carry into the next: the sum is split."""
    model = load_model(small_model)
    n = 140_000  # at least 140,000 pieces: one unsplit sum of fields near OFFSET would pass 2**32
    cats, levels = model.margins("楼" * n)
    one, pair = model.weights_of("楼"), model.weights_of("楼楼") or [0.0] * len(model.bias)
    expected = [b + n * x + (n - 1) * y for b, x, y in zip(model.bias, one, pair)]
    assert [*cats.values(), *levels.values()] == pytest.approx(expected, rel=1e-6, abs=1e-3)


def test_pieces_across_the_seams_between_parts_count_once(small_model):
    model = load_model(small_model)
    text = "电梯坏了漏水" * 12_001 + "停电"  # 72,008 characters: three parts, seams inside pieces
    cats, levels = model.margins(text)
    counts = Counter(pieces_of(text))
    expected = list(model.bias)
    for g, n in counts.items():
        w = model.weights_of(g)
        if w is not None:
            expected = [e + n * x for e, x in zip(expected, w)]
    assert sum(counts.values()) == 2 * len(text) - 1
    assert [*cats.values(), *levels.values()] == pytest.approx(expected, rel=1e-6, abs=1e-3)


def test_a_weight_too_large_for_its_field_is_refused_not_wrapped():
    assert pack([0.0, MAX_WEIGHT - 0.01]) > 0
    with pytest.raises(ValueError, match="fit with a smaller C"):
        pack([0.0, -MAX_WEIGHT])


def test_odd_texts_score_without_error(small_model):
    model = load_model(small_model)
    for text in ("", "a", "\ud800坏了", "🌧️🌧️漏水", "楼" * 20_000):
        cats, levels = model.margins(text)
        assert len(cats) == 17 and len(levels) == 3


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "model file not found"),
    (lambda p: p.write_bytes(b"not a zip"), "not a model file"),
    (lambda p: _rewrite(p, "model.json", lambda h: {**h, "format": 99}), "format 99"),
    (lambda p: _rewrite(p, "model.json", lambda h: {**h, "bias": h["bias"][:-1]}), "do not match"),
    (lambda p: _rewrite(p, "pieces.json", lambda ps: ps[:-1]), "do not match"),
])
def test_a_damaged_model_file_is_refused_with_its_path(small_model, tmp_path, damage, message):
    path = tmp_path / "m.zip"
    path.write_bytes(small_model.read_bytes())
    damage(path)
    with pytest.raises(RulesError) as e:
        load_model(path)
    assert str(path) in str(e.value) and message in str(e.value)


def _rewrite(path: Path, member: str, change) -> None:
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files[member] = json.dumps(change(json.loads(files[member])), ensure_ascii=False).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)


@pytest.mark.parametrize("model, message", [
    ({"weight": 0}, "model.weight: must be > 0"),
    ({"weight": "5"}, "model.weight: must be a number"),
    ({"urgent_margin": True}, "model.urgent_margin: must be a number"),
    ({"cap_margin": "high"}, "model.cap_margin: must be a number"),
    ({"enabled": "yes"}, "model.enabled: must be true or false"),
    ({"file": 3}, "model.file: must be a string"),
    ({"fiel": "x.zip"}, "model.fiel: unknown key"),
])
def test_bad_model_settings_are_refused_naming_the_key(model, message):
    assert message in _refusal(_raw(**model))


def test_a_category_removed_from_the_rules_is_ignored_in_the_model(small_model, cache, tmp_path):
    raw = _raw(file=str(small_model))
    assert Classifier(parse_rules(raw), cache).classify("楼下的狗天天叫，狗屎也不铲").category == "宠物"
    del raw["categories"]["宠物"]
    clf = Classifier(parse_rules(raw), cache)
    r = clf.classify("楼下的狗天天叫，狗屎也不铲")
    assert clf.model_ignores == ("宠物",) and r.category in raw["categories"] and "宠物" not in r.model_scores
    rules = tmp_path / "rules.toml"
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    start = text.index('[categories."宠物"]')
    end = start + re.search(r'^\[categories\."(?!宠物")', text[start:], re.M).start()
    rules.write_text(text[:start] + text[end:], encoding="utf-8")
    done = wuye("rules", "check", str(rules), cwd=tmp_path)
    assert done.returncode == 0 and "also knows 宠物" in done.stdout


def test_model_file_is_relative_to_the_rules_file(small_model, tmp_path, cache):
    (tmp_path / "mine.zip").write_bytes(small_model.read_bytes())
    clf = Classifier(parse_rules(_raw(file="mine.zip"), str(tmp_path / "rules.toml")), cache)
    assert clf.model is not None and clf.model.source == str(tmp_path / "mine.zip")
    assert "mine.zip" in _refusal(_raw(file="mine.zip"), str(tmp_path / "elsewhere" / "rules.toml"))


def test_without_a_model_table_the_keyword_rules_decide_alone(cache):
    clf = Classifier(parse_rules(_raw()), cache)
    r = clf.classify("卫生间漏水，一直往下滴")
    assert clf.model is None and r.model_scores == {} and r.score == r.scores["漏水"]
    assert Classifier(parse_rules(_raw(enabled=False)), cache).model is None


def test_a_heavy_admin_keyword_outweighs_the_model(cache):
    raw = _raw(file="", weight=5.0)
    assert Classifier(parse_rules(raw), cache).classify("平衡车乱停").category == "停车"
    raw["categories"]["绿化"]["keywords"]["平衡车"] = 20
    assert Classifier(parse_rules(raw), cache).classify("平衡车乱停").category == "绿化"


def test_the_model_weight_sets_its_share_of_the_category_score(cache):
    light = Classifier(parse_rules(_raw(weight=0.01)), cache).classify("卫生间漏水，一直往下滴")
    heavy = Classifier(parse_rules(_raw(weight=50.0)), cache).classify("卫生间漏水，一直往下滴")
    assert abs(light.score - light.scores["漏水"]) < 0.1 < abs(heavy.score - heavy.scores["漏水"])


def test_urgent_margin_lets_the_model_raise_to_urgent_but_never_past_can_wait(cache):
    eager = Classifier(parse_rules(_raw(urgent_margin=-100.0, veto_margin=-200.0)), cache)
    r = eager.classify("小区门口的垃圾桶满了")
    assert r.urgency == "紧急" and "fitted model" in r.urgency_reason
    assert eager.classify("不急，有空来看看楼道灯").urgency != "紧急"
    never = Classifier(parse_rules(_raw(urgent_margin=100.0)), cache)  # danger phrases still count
    assert never.classify("小区门口的垃圾桶满了").urgency != "紧急"
    assert never.classify("电梯里有人被困！").urgency == "紧急"  # a danger phrase needs no model


def test_a_danger_phrase_the_model_is_sure_about_is_important_not_urgent(cache):
    text = "昨晚水管爆的那个事已经处理好了，想问一下我家被泡坏的木地板找谁赔"  # from messages_dev*
    r = Classifier(parse_rules(_raw(file="")), cache).classify(text)
    assert r.urgency == "重要" and "sure it is not an emergency" in r.urgency_reason
    assert r.model_urgency["紧急"] < -1.5
    assert Classifier(parse_rules(_raw(file="", veto_margin=-100.0)), cache).classify(text).urgency == "紧急"
    trapped = Classifier(parse_rules(_raw(file="")), cache).classify("电梯里有人被困！")
    assert trapped.urgency == "紧急" and "danger overrides" in trapped.urgency_reason


def _veto_between(text: str, rest: str, cache: Path, people: bool = True) -> Classifier:
    """The packaged model with veto_margin halfway between its 紧急 margin on text and on rest
    (text without its "it can wait" phrases): the veto fires on the whole text, not on rest."""
    model = load_model()
    whole, without = (model.margins(normalize(t))[1]["紧急"] for t in (text, rest))
    assert whole < without < 0.5, (whole, without)  # "不急" counts against an emergency
    raw = _raw(file="", urgent_margin=0.5, veto_margin=(whole + without) / 2)
    if not people:
        raw["urgency"]["people"] = []
    return Classifier(parse_rules(raw), cache)


def test_the_residents_can_wait_does_not_veto_a_person_in_danger(cache):
    text, rest = "不急不急，就是电梯里有人被困了", "就是电梯里有人被困了"
    r = _veto_between(text, rest, cache).classify(text)
    assert r.urgency == "紧急" and "'有人被困' is a person in danger" in r.urgency_reason, r.urgency_reason
    vetoed = _veto_between(text, rest, cache, people=False).classify(text)
    assert vetoed.urgency == "重要" and "sure it is not an emergency" in vetoed.urgency_reason


def test_the_residents_can_wait_still_counts_for_danger_to_property(cache):
    text, rest = "不急，插座有点漏电，有空来看看", "，插座有点漏电，来看看"
    r = _veto_between(text, rest, cache).classify(text)
    assert r.urgency == "重要" and "sure it is not an emergency" in r.urgency_reason, r.urgency_reason


def test_can_wait_holds_nothing_back_when_the_model_is_sure_of_an_emergency_without_it(cache):
    text = "不急的，我就是看到有人站在12栋楼顶边上，来回走，已经站了好一会儿了"  # from messages_dev47
    r = Classifier(parse_rules(_raw(file="", urgent_margin=0.0, cap_margin=0.8)), cache).classify(text)
    assert r.urgency == "紧急" and "without that the fitted model is sure it is an emergency" in r.urgency_reason
    held = Classifier(parse_rules(_raw(file="", urgent_margin=0.0, cap_margin=100.0)), cache).classify(text)
    assert held.urgency == "一般" and "the resident says it can wait" in held.urgency_reason


def test_people_must_be_danger_phrases():
    raw = _raw(file="")
    raw["urgency"]["people"] = ["被困", "楼道灯"]
    assert "urgency.people: '楼道灯' is not a 紧急 phrase" in _refusal(raw)


def test_a_cap_holds_nothing_back_when_the_model_is_sure_of_an_emergency(cache):
    text = "楼下邻居嫌我家吵 刚才冲上来踹我家门 门都踹变形了 还在踹"  # from messages_dev22
    r = Classifier(parse_rules(_raw(file="")), cache).classify(text)
    assert r.urgency == "紧急", r.urgency_reason
    assert "'嫌我家' holds nothing back: the fitted model is sure it is an emergency" in r.urgency_reason
    assert r.model_urgency["紧急"] > 0.5
    held = Classifier(parse_rules(_raw(file="", cap_margin=100.0)), cache).classify(text)
    assert held.urgency == "一般" and "'嫌我家' holds it at 一般" in held.urgency_reason


def test_veto_margin_must_be_below_urgent_margin():
    assert "model.veto_margin: must be below model.urgent_margin" in _refusal(_raw(urgent_margin=-1.0, veto_margin=-0.5))


def test_a_disabled_model_table_is_still_checked():
    assert "model.urgent_margin: must be a number" in _refusal(_raw(enabled=False, urgent_margin="high"))


def test_explain_names_the_pieces_behind_the_model(cache):
    text = "卫生间漏水，一直往下滴"
    d = Classifier(parse_rules(_raw(file="")), cache).explain(text)
    pieces = d["model_pieces"]["漏水"]
    assert len(pieces) == 5 and all(g in normalize(text) for g, _ in pieces) and pieces[0][1] > 0
    assert [abs(w) for _, w in pieces] == sorted((abs(w) for _, w in pieces), reverse=True)
    assert d["model_scores"]["漏水"] == max(d["model_scores"].values())


def test_rules_fit_writes_a_model_the_rules_can_use(tmp_path):
    out = tmp_path / "fitted.zip"
    done = wuye("rules", "fit", "--out", str(out), str(SMALL), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "576 messages" in done.stdout and out.exists()
    rules = tmp_path / "rules.toml"
    rules.write_text(DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace('file = ""', 'file = "fitted.zip"', 1),
                     encoding="utf-8")
    check = wuye("rules", "check", str(rules), cwd=tmp_path)
    assert check.returncode == 0 and "fitted.zip" in check.stdout
    ev = wuye("rules", "eval", "--json", "--rules", str(rules), str(SMALL), cwd=tmp_path)
    assert ev.returncode == 0 and json.loads(ev.stdout)["accuracy"] > 0.9


def test_a_model_table_without_numbers_gets_the_packaged_values():
    """A rules file that leaves a [model] number out gets what the packaged rules ship with."""
    packaged = parse_rules(_raw(**tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))["model"])).model
    bare = parse_rules(_raw(enabled=True)).model
    assert bare == packaged


def test_a_fit_says_whether_the_solver_converged(small_fit):
    examples = read_examples(SMALL)
    args = [normalize(e.text) for e in examples], [e.category for e in examples], [e.urgency for e in examples]
    assert small_fit.converged
    assert not fit_model(*args, max_iter=2).converged


def test_rules_fit_notes_a_solver_stopped_at_its_limit(tmp_path):
    out = tmp_path / "fitted.zip"
    plain = wuye("rules", "fit", "--out", str(out), str(SMALL), cwd=tmp_path)
    assert plain.returncode == 0 and "note" not in plain.stderr and "Warning" not in plain.stderr
    short = wuye("rules", "fit", "--max-iter", "2", "--out", str(out), str(SMALL), cwd=tmp_path)
    assert short.returncode == 0 and out.exists()
    assert "stopped at its limit of 2 iterations" in short.stderr and "--max-iter" in short.stderr
    assert "ConvergenceWarning" not in short.stderr  # said once, plainly, not as liblinear's warning
    zero = wuye("rules", "fit", "--max-iter", "0", "--out", str(tmp_path / "m.zip"), str(SMALL), cwd=tmp_path)
    assert zero.returncode != 0 and "--max-iter" in zero.stderr and not (tmp_path / "m.zip").exists()


@pytest.mark.parametrize("lines, message", [
    (['{"text": "电梯坏了", "category": "电梯", "urgency": "重要"}',
      '{"text": "电梯又坏了", "category": "电梯", "urgency": "一般"}'], "only one category"),
    (['{"text": "电梯坏了", "category": "电梯", "urgency": "超急"}',
      '{"text": "漏水", "category": "漏水", "urgency": "一般"}'], "unknown urgency 超急"),
    (['{"text": "电梯坏了", "category": "电梯", "urgency": "重要"}', "not json"], ":2:"),
])
def test_rules_fit_refuses_bad_data_and_writes_nothing(tmp_path, lines, message):
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = wuye("rules", "fit", "--out", str(tmp_path / "m.zip"), str(data), cwd=tmp_path)
    assert done.returncode != 0 and message in done.stderr
    assert not (tmp_path / "m.zip").exists()


def test_holder_reloads_an_edited_model_file_and_keeps_the_old_on_a_broken_one(small_model, tmp_path):
    model_path = tmp_path / "m.zip"
    model_path.write_bytes(small_model.read_bytes())
    rules = tmp_path / "rules.toml"
    rules.write_text(DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace('file = ""', 'file = "m.zip"', 1),
                     encoding="utf-8")
    holder = ClassifierHolder(rules, tmp_path / "cache", interval=0.1)
    first = holder()
    silent = Model({}, tuple(0.0 for _ in first.model.bias), first.model.categories, first.model.levels)
    save_model(silent, model_path)
    _later(model_path)
    assert holder.reload_if_changed()
    assert holder() is not first and holder().model.margins("漏水")[0]["漏水"] == 0.0
    good = holder()
    model_path.write_bytes(b"broken")
    _later(model_path)
    assert not holder.reload_if_changed()
    assert holder() is good and "not a model file" in holder.last_error


def _later(path: Path) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 5))


def test_a_fit_keeps_the_digest_of_what_it_was_fitted_on(small_fit, small_model):
    examples = read_examples(SMALL)
    texts, categories, urgencies = ([normalize(e.text) for e in examples], [e.category for e in examples],
                                    [e.urgency for e in examples])
    assert small_fit.fitted_on == data_digest(texts, categories, urgencies)
    assert load_model(small_model).fitted_on == small_fit.fitted_on
    relabelled = ["维修" if categories[0] == "其他" else "其他", *categories[1:]]
    assert data_digest(texts, relabelled, urgencies) != small_fit.fitted_on
    assert data_digest(texts[1:], categories[1:], urgencies[1:]) != small_fit.fitted_on
    assert data_digest(texts, categories, urgencies, c=0.2) != small_fit.fitted_on


def test_the_rows_of_a_fit_are_the_pieces_of_enough_messages(small_fit):
    assert small_fit.pieces == vocabulary([normalize(e.text) for e in read_examples(SMALL)])
    # counted once per message, however often it occurs in one
    assert vocabulary(["aa", "b", "b"]) == ("b",)
    assert vocabulary(["aa", "b", "b"], min_count=1) == ("a", "aa", "b")
