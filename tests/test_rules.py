"""Rule files: validation with file:line, matching precedence, the CLI, hot reload."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from sidecar.rerank.rule import CONSTRAINT_KEYS, DEDUP_KEYS, MATCH_KEYS, ORDER_PARAMS, RULE_KEYS
from sidecar.rerank.strategies import BASE_ORDER_KEYS
from sidecar.rules import RuleLoadError, RuleStore, load_rules_dir, normalize_query, schema

GOOD = """rules:
  - id: jackets
    match: {queries: ["Black Jacket"], patterns: ['\\bjacket\\b']}
    constraints:
      - {field: brand, any: true, max: 0.3}
  - id: fallback
    match: {default: true}
"""


def write(dir_: Path, name: str, text: str) -> Path:
    p = dir_ / name
    p.write_text(text, encoding="utf-8")
    return p


def errors_of(tmp_path: Path, text: str, name: str = "r.yaml") -> list[str]:
    write(tmp_path, name, text)
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    return [str(e) for e in err.value.errors]


def test_schema_keys_match_the_core_parser():
    defs = schema()["$defs"]
    assert set(defs["rule"]["properties"]) == RULE_KEYS
    assert set(defs["match"]["properties"]) == MATCH_KEYS
    assert set(defs["constraint"]["properties"]) == CONSTRAINT_KEYS
    assert set(defs["order"]["properties"]) == ORDER_PARAMS
    for strategy in BASE_ORDER_KEYS:  # one rule key per registered base order
        assert defs["rule"]["properties"][strategy]["$ref"] == "#/$defs/order"
    assert set(defs["rule"]["properties"]["dedup"]["properties"]) == DEDUP_KEYS


@pytest.mark.parametrize("text, expected", [
    ("rules:\n  - id: a\n    match: {queries: [x]\n", "r.yaml:3: YAML syntax error at column 12: unclosed bracket '{'"),
    ("rules:\n  - id: a\n    constraints:\n      - field: brand\n        value: X\n        mni: 0.1\n",
     "r.yaml:6: unknown key 'mni' in rules/0/constraints/0"),
    ("rules:\n  - id: a\n    windw: 10\n", "r.yaml:3: unknown key 'windw' in rules/0"),
    ("rules:\n  - id: a\n    constraints:\n      - {field: c, value: used, min: 1.5}\n",
     "r.yaml:4: rules/0/constraints/0/min: a fraction must be in (0, 1], got 1.5"),
    ("rules:\n  - id: a\n    constraints:\n      - {field: c, value: used, max: 0}\n",
     "r.yaml:4: rules/0/constraints/0/max: a fraction must be in (0, 1], got 0"),
    ("rules:\n  - id: a\n    match:\n      patterns: ['ok', '(unclosed']\n",
     "r.yaml:4: rule 'a': invalid regular expression '(unclosed'"),
    ("rules:\n  - id: a\n\n    constraints:\n      - {field: seller, any: true, min: 0.2}\n",
     "r.yaml:5: rules/0/constraints/0: 'any' goes with 'max' only"),
    ("rules:\n  - id: a\n    constraints:\n      - {field: brand, value: X, values: [Y], max: 0.2}\n",
     "r.yaml:4: rule 'a': constraints[0] (brand=X max 0.2): exactly one property is required"),
    ("rules:\n  - id: a\n    lambda: -1\n", "r.yaml:3: rules/0/lambda: -1 is less than the minimum of 0"),
    ("rules:\n  - id: a\n    mmr: {diversity: 0.2}\n    msd: {diversity: 0.2}\n",
     "r.yaml:2: rules/0: mmr and msd both set a base order; keep one"),
    ("rules:\n  - id: a\n    constraints:\n      - {field: price, bands: [100, 500], min: 0.2}\n",
     "r.yaml:4: rules/0/constraints/0: 'bands' goes with 'max' only"),
    ("rules: {id: a}\n", "r.yaml:1: rules: {'id': 'a'} is not of type 'array'"),
    # PyYAML would keep the second value silently; a merchandiser's pasted line must not do that
    ("rules:\n  - id: a\n    window: 10\n    lambda: 1\n    window: 20\n", "r.yaml:5: duplicate key 'window' in one mapping"),
    # YAML 1.2: yes is a string, not true (the schema says what it wants)
    ("rules:\n  - id: a\n    dedup: {collapse: yes}\n", "r.yaml:3: rules/0/dedup/collapse: 'yes' is not of type 'boolean'"),
])
def test_each_validation_error_names_file_and_line(tmp_path, text, expected):
    errs = errors_of(tmp_path, text)
    assert any(e.startswith(str(tmp_path / expected.split(":")[0])) and expected.split(":", 1)[1] in e for e in errs), errs


def test_rule_lines_in_block_flow_and_quoted_styles(tmp_path):
    write(tmp_path, "r.yaml", "# header\nrules:\n  - id: plain\n    window: 10\n    match: {queries: [a]}\n\n"
          "  - {id: 'flow quoted', window: 5, match: {queries: [b]}}\n  - window: 7\n    id: \"key-second\"\n"
          "    match: {queries: [c]}\n  - description: 'id: decoy'\n    id: decoy\n    match: {queries: [d]}\n"
          "  - id: default  # the fallback rule\n    match: {default: true}\n")
    lines = {loc.rule.id: loc.line for loc in load_rules_dir(tmp_path).located}
    assert lines == {"plain": 3, "flow quoted": 7, "key-second": 9, "decoy": 12, "default": 14}


def test_unquoted_iso_date_stays_a_date_string(tmp_path):
    write(tmp_path, "r.yaml", "rules:\n  - id: new\n    match: {default: true}\n    constraints:\n      - {field: listed_at, gte: 2026-09-01, min: 0.2}\n")
    (loc,) = load_rules_dir(tmp_path).located
    assert loc.rule.constraints[0].prop.gte == "2026-09-01"


def test_duplicate_ids_across_files_and_two_defaults(tmp_path):
    write(tmp_path, "a.yaml", "rules:\n  - id: same\n    match: {default: true}\n")
    write(tmp_path, "b.yaml", "rules:\n  - id: other\n    match: {queries: [o]}\n  - id: same\n    match: {queries: [s]}\n"
                              "  - id: d2\n    match: {default: true}\n")
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    msgs = [str(e) for e in err.value.errors]
    assert f"{tmp_path}/b.yaml:4: duplicate rule id 'same' (first at {tmp_path}/a.yaml:2)" in msgs
    assert any(m.startswith(f"{tmp_path}/b.yaml:6: second default rule 'd2'") for m in msgs)


def test_a_file_reports_all_its_errors_at_once(tmp_path):
    """A duplicated key does not hide the schema errors, a schema error does not hide a bad
    regular expression, and a rule without match (it would never apply) is an error."""
    errs = errors_of(tmp_path, "rules:\n  - id: a\n    match: {patterns: ['(unclosed']}\n    window: 10\n    window: 20\n"
                               "  - id: b\n    match: {patterns: ['[bad']}\n    lamda: 1\n"
                               "  - id: c\n    window: 5\n  - id: d\n    match: {}\n")
    f = tmp_path / "r.yaml"
    assert [e.split(": ", 1)[0] for e in errs] == [f"{f}:3", f"{f}:5", f"{f}:7", f"{f}:8", f"{f}:9", f"{f}:12"], errs
    assert "invalid regular expression '(unclosed'" in errs[0] and "duplicate key 'window'" in errs[1]
    assert "invalid regular expression '[bad'" in errs[2] and "unknown key 'lamda'" in errs[3]
    assert "needs 'match'" in errs[4] and "empty match never applies" in errs[5]


def test_normalisation():
    assert normalize_query("  Black\tJACKET!! ") == "black jacket"
    assert normalize_query("Ｔ－ｓｈｉｒｔ") == "t shirt"  # NFKC folds full-width forms
    assert normalize_query("Men's  Watch") == "men s watch"


def test_precedence_exact_then_pattern_then_default(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", "rules:\n  - id: exact-later\n    match: {queries: ['denim jacket']}\n")
    rs = load_rules_dir(tmp_path)
    assert rs.match("BLACK  jacket").how == "exact"
    assert rs.match("black jacket").rule.id == "jackets"
    m = rs.match("denim jacket")  # an exact match in a later file beats an earlier pattern
    assert (m.rule.id, m.how) == ("exact-later", "exact")
    m = rs.match("a red jacket")
    assert (m.rule.id, m.how, m.where) == ("jackets", "pattern", f"{tmp_path}/a.yaml:2")
    assert rs.match("socks").rule.id == "fallback"


def test_categories_and_filters_restrict_a_rule(tmp_path):
    write(tmp_path, "a.yaml", "rules:\n  - id: shoes-only\n    match: {patterns: [black], categories: [Shoes]}\n"
                              "  - id: d\n    match: {default: true}\n")
    rs = load_rules_dir(tmp_path)
    assert rs.match("black", {"category": "Shoes"}).rule.id == "shoes-only"
    assert rs.match("black", {"category": "Topwear"}).rule.id == "d"
    assert rs.match("black").rule.id == "d"


def test_match_filters_restrict_a_rule_to_requests_filtered_alike(tmp_path):
    write(tmp_path, "a.yaml", "rules:\n  - id: men-shoes\n    match: {patterns: [shoes], filters: {gender: Men}}\n"
                              "  - id: d\n    match: {default: true}\n")
    rs = load_rules_dir(tmp_path)
    assert rs.match("black shoes", {"gender": "Men"}).rule.id == "men-shoes"
    assert rs.match("black shoes", {"gender": "ＭＥＮ"}).rule.id == "men-shoes"  # folded, as filters match
    assert rs.match("black shoes", {"gender": "Women"}).rule.id == "d"
    assert rs.match("black shoes").rule.id == "d"
    assert rs.match("black shoes", {"colour": "Black"}).rule.id == "d"


def test_shipped_rules_are_valid_and_cover_the_asked_cases():
    rs = load_rules_dir(ROOT / "query_rules")
    rules = rs.by_id
    assert rs.default is not None
    d = rs.default.rule
    assert {(c.field, c.any, c.fraction) for c in d.constraints} >= {("brand", True, 0.3), ("seller", True, 0.3)}
    assert d.dedup is not None and d.dedup.collapse  # collapse, not spreading: see 00-default.yaml
    kinds = [c for r in rules.values() for c in r.constraints]
    assert any(c.kind == "min" and "used" in getattr(c.prop, "values", ()) for c in kinds)       # pre-owned share
    assert any(c.kind == "max" and getattr(c.prop, "value", None) is not None for c in kinds)    # one-brand cap
    assert any(c.kind == "min" and getattr(c.prop, "gte", None) and c.field == "listed_at" for c in kinds)  # newly listed
    assert any(r.strategy == "mmr" for r in rules.values())                                      # MMR on a broad query
    assert rs.match("shoes").rule.strategy == "mmr"


def test_cli_check_and_explain(tmp_path):
    ok = run_cli("rules", "check", str(ROOT / "query_rules"))
    assert ok.returncode == 0 and ok.stdout.startswith("OK: 5 rules in 3 files") and " 14 rewrites, " in ok.stdout
    write(tmp_path, "bad.yaml", "rules:\n  - id: a\n    constraints:\n      - {field: b, value: x, mni: 0.1}\n")
    bad = run_cli("rules", "check", str(tmp_path))
    assert bad.returncode == 1
    assert f"{tmp_path}/bad.yaml:4: unknown key 'mni'" in bad.stdout
    ex = run_cli("rules", "explain", str(ROOT / "query_rules"), "Men Sports Shoes")
    assert ex.returncode == 0
    assert "rule:       sports-shoes-nike-cap" in ex.stdout and "why:        pattern" in ex.stdout
    assert "constraint: Nike <= 30%" in ex.stdout


def test_reload_picks_up_edits_and_keeps_last_good_on_error(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    outcomes = []
    store = RuleStore(tmp_path, on_reload=outcomes.append)
    v1 = store.current.version
    assert store.poll_once() is None  # nothing changed
    write(tmp_path, "a.yaml", GOOD.replace("max: 0.3", "max: 0.4"))
    assert store.poll_once() is True
    assert store.current.version != v1
    assert store.current.get("jackets").constraints[0].fraction == 0.4
    good = store.current
    write(tmp_path, "a.yaml", GOOD.replace("max: 0.3", "mxa: 0.3"))
    assert store.poll_once() is False
    assert store.current is good  # the last good set keeps serving
    status = store.status()
    assert status["failures"] == 1 and "unknown key 'mxa'" in status["last_error"][0]
    assert status["last_error"][0].startswith(f"{tmp_path}/a.yaml:5:")
    assert outcomes == [True, False]


def test_polling_thread_reloads_without_restart(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    store = RuleStore(tmp_path)
    store.start_polling(0.05)
    try:
        write(tmp_path, "b.yaml", "rules:\n  - id: added\n    match: {queries: [socks]}\n")
        deadline = time.time() + 5
        while store.current.get("added") is None and time.time() < deadline:
            time.sleep(0.02)
        assert store.current.match("socks").rule.id == "added"
    finally:
        store.stop()


def test_a_worker_acts_once_on_the_reload_it_asked_for(tmp_path):
    """The worker taking /admin/rules/reload publishes the request and reloads; its own sync loop,
    seeing the new number while that slow reload runs, must not reload a second time (a busy CI
    machine once counted two failures for one rejected edit), and another worker reloads once."""
    from sidecar.server.workers import SYNC_SECONDS, WorkerBoard

    rules, run = tmp_path / "rules", tmp_path / "run"
    rules.mkdir()
    write(rules, "a.yaml", GOOD)
    asking, other = RuleStore(rules), RuleStore(rules)
    slow = asking._reload

    def slow_reload():
        time.sleep(4 * SYNC_SECONDS)  # the sync loop ticks several times meanwhile
        return slow()

    asking._reload = slow_reload
    boards = [WorkerBoard(run, asking), WorkerBoard(run, other)]
    for b in boards:
        b.start()
    try:
        write(rules, "a.yaml", GOOD.replace("max: 0.3", "mxa: 0.3"))
        number = boards[0].request_reload()
        deadline = time.time() + 5
        while other.failures == 0 and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(4 * SYNC_SECONDS)
        assert (asking.failures, other.failures) == (1, 1)
        assert [b.seen for b in boards] == [number, number]
    finally:
        for b in boards:
            b._stop.set()


def test_reload_while_many_threads_read_never_tears(tmp_path):
    """Two rule sets that differ in every rule; readers must always see all of one or all of the other."""
    def ruleset_text(tag: str) -> str:
        return "rules:\n" + "".join(
            f"  - id: r{i}\n    description: {tag}\n    match: {{queries: [q{i}]}}\n" for i in range(50)
        ) + f"  - id: d\n    description: {tag}\n    match: {{default: true}}\n"

    write(tmp_path, "a.yaml", ruleset_text("A"))
    store = RuleStore(tmp_path)
    stop = threading.Event()
    torn: list[set] = []
    reads = [0]

    def reader():
        while not stop.is_set():
            rs = store.current  # one read per request, as the service does
            tags = {loc.rule.description for loc in rs.located}
            tags.add(rs.match("q7").rule.description)
            if len(tags) != 1:
                torn.append(tags)
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            write(tmp_path, "a.yaml", ruleset_text("B" if i % 2 == 0 else "A"))
            assert store.reload()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert reads[0] > 100
    assert torn == []


@pytest.mark.parametrize("pattern, literal", [
    (r"\bjacket\b", "jacket"),
    (r"\bnike\b.*\bshoes?\b", "nike"),          # longest run; "shoe" is 4 too, the first longest wins
    (r"^(black|white) jacket", " jacket"),
    (r"(?i)Jacket", None),                      # case-insensitive: the literal proves nothing
    (r"watch(es)?", "watch"),
    (r"kurta|saree", None),                     # a top-level alternative: nothing is required
    (r"a+bc", None),                            # "bc" is shorter than a trigram
    (r"(?:leather)\s+boots", "leather"),
])
def test_required_literal(pattern, literal):
    import re

    from sidecar.rules.prefilter import required_literal
    assert required_literal(re.compile(pattern)) == literal


def test_pattern_prefilter_gives_the_same_match_as_trying_every_pattern(tmp_path):
    """The trigram prefilter only skips patterns that cannot match: same rule, same order, always."""
    import dataclasses
    import random

    pats = [r"\bjacket\b", r"\bnike\b.*\bshoes?\b", r"^(black|white) jacket", r"(?i)JEANS", r"watch(es)?",
            r"kurta|saree", r"\bred\b", r"leather\s+boots?", r"^men s", r"shirt$", r"[0-9]{2}\b", r"(?:polo) t"]
    body = "".join(f"  - id: p{i}\n    match: {{patterns: ['{p}']}}\n" for i, p in enumerate(pats))
    write(tmp_path, "r.yaml", "rules:\n" + body + "  - id: default\n    match: {default: true}\n")
    rs = load_rules_dir(tmp_path)
    plain = dataclasses.replace(rs, pattern_index=None)
    words = ["black", "white", "jacket", "nike", "running", "shoes", "shoe", "jeans", "watch", "watches", "kurta",
             "red", "leather", "boots", "men", "s", "shirt", "polo", "t", "42", "x", "saree", "jack", "et"]
    rng = random.Random(7)
    queries = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 5))) for _ in range(3000)]
    hits = 0
    for q in queries:
        got, want = rs.match(q), plain.match(q)
        assert (got.rule.id, got.how) == (want.rule.id, want.how), q
        hits += got.how == "pattern"
    assert 500 < hits < 2900  # both outcomes well represented


# --- what a rules directory may hold, and what a broken one does (issues 24, 25) -------------

def test_files_that_cannot_be_rule_files_are_rejected_with_their_reason(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    write(rules, "good.yaml", GOOD)
    (rules / "latin1.yaml").write_bytes("rules:\n  - id: caf\xe9\n".encode("latin-1"))
    (rules / "folder.yaml").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("the-stored-secret\n")
    (rules / "outside.yaml").symlink_to(secret)
    (rules / "dangling.yml").symlink_to(rules / "gone.txt")
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(rules)
    text = "\n".join(map(str, err.value.errors))
    assert "latin1.yaml:2: not UTF-8 text" in text
    assert "folder.yaml: a directory" in text
    assert "outside.yaml: a symbolic link leading out of the rules directory" in text
    assert "dangling.yml: not a regular file" in text
    assert "the-stored-secret" not in text  # no file content is echoed


def test_yaml_aliases_are_refused_before_anything_expands_them(tmp_path):
    """A 500-byte alias bomb (10^9 nodes once expanded) is an error on its line, in milliseconds."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)) + "rules: *i\n"
    t0 = time.perf_counter()
    errs = errors_of(tmp_path, bomb)
    assert time.perf_counter() - t0 < 2.0
    assert errs == [f"{tmp_path / 'r.yaml'}:1: YAML anchors and aliases (&name, *name) are not allowed in rule "
                    "files: write the values out"]
    # a pattern with * and & stays fine: only YAML's own anchors count
    write(tmp_path, "r.yaml", "rules:\n  - id: p\n    match: {patterns: ['a.*b', 'x&y']}\n")
    assert load_rules_dir(tmp_path).get("p") is not None


def test_drafts_are_bounded(tmp_path):
    from sidecar.rules import check_draft
    from sidecar.rules.loader import MAX_DRAFT_BYTES

    located, errors = check_draft("rules: []\n" + "#" * MAX_DRAFT_BYTES)
    assert not located and "a draft may have at most" in str(errors[0])
    located, errors = check_draft("x: &x [1]\nrules: *x\n")
    assert "anchors and aliases" in str(errors[0])


def test_a_store_starts_from_the_last_good_snapshot_when_the_directory_is_broken(tmp_path):
    """A worker that replaces a dead one while a bad edit is on disk serves the last good rules
    (reported as a rejected reload) instead of failing to boot; the next good edit is picked up."""
    rules = tmp_path / "rules"
    rules.mkdir()
    write(rules, "r.yaml", GOOD)
    snapshot = tmp_path / "run" / "rules.good.json"
    snapshot.parent.mkdir()
    first = RuleStore(rules, snapshot=snapshot)
    assert snapshot.exists()
    write(rules, "r.yaml", GOOD.replace("max: 0.3", "max: 3"))
    with pytest.raises(RuleLoadError):
        RuleStore(rules)  # without a snapshot: nothing to fall back on
    booted = RuleStore(rules, snapshot=snapshot)
    assert booted.current.version == first.current.version and booted.failures == 1
    assert "r.yaml:5" in booted.last_error[0] and booted.current.match("black jacket").rule.id == "jackets"
    time.sleep(0.01)
    write(rules, "r.yaml", GOOD.replace("max: 0.3", "max: 0.4"))
    assert booted.poll_once() is True and booted.current.get("jackets").constraints[0].fraction == 0.4


def test_a_non_utf8_edit_is_a_counted_rejection_and_retried_on_the_next_change(tmp_path):
    write(tmp_path, "r.yaml", GOOD)
    store = RuleStore(tmp_path)
    time.sleep(0.01)
    (tmp_path / "r.yaml").write_bytes(b"rules:\n  - id: \xff\n")
    assert store.poll_once() is False and store.failures == 1 and "not UTF-8" in store.last_error[0]
    assert store.poll_once() is None  # unchanged: not re-read
    time.sleep(0.01)
    write(tmp_path, "r.yaml", GOOD)
    assert store.poll_once() is True and store.last_error == []


def test_backtracking_patterns_match_in_linear_time(tmp_path):
    write(tmp_path, "r.yaml", "rules:\n  - id: evil\n    match: {patterns: ['(a+)+$']}\n  - id: d\n    match: {default: true}\n")
    rs = load_rules_dir(tmp_path)
    t0 = time.perf_counter()
    assert rs.match("a" * 5000 + "b").rule.id == "d"  # Python's re takes minutes from 30 a's on
    assert time.perf_counter() - t0 < 0.5
    assert rs.match("aaaa").rule.id == "evil"
    errs = errors_of(tmp_path, "rules:\n  - id: look\n    match: {patterns: ['(?=x)shirt']}\n")
    assert "r.yaml:3:" in errs[0] and "RE2 syntax" in errs[0]


def test_rules_check_lists_every_error_and_warns_about_rules_that_cannot_apply(tmp_path):
    write(tmp_path, "a.yaml", """rules:
  - id: one
    match: {queries: [red shirt]}
    constraints:
      - {field: colr, max: 0.5, any: true}
      - {field: brand, max: 1.5}
      - {field: brand, min: 0.2, value: Nike, bogus: 1}
  - id: two
    match: {queries: [shoes]}
    size: 0
    constraints:
      - {field: brand, max: 0.4, value: x, values: [y]}
      - {field: seller, max: 0.4, value: x, values: [y]}
""")
    res = run_cli("rules", "check", str(tmp_path))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert any(ln.endswith("a.yaml:5: rule 'one': field 'colr' is not one retrieval fetches (did you mean 'colour'?); "
                           "the fields are: title, brand, seller, condition, category, master_category, colour, gender, "
                           "season, usage, price, listed_at") for ln in lines), lines
    assert any("a.yaml:6:" in ln and "(0, 1]" in ln for ln in lines)
    assert any("a.yaml:7:" in ln and "unknown key 'bogus'" in ln for ln in lines)
    assert any("a.yaml:10:" in ln and "size" in ln for ln in lines)  # schema error of rule two ...
    assert any("a.yaml:12:" in ln and "exactly one property" in ln for ln in lines)  # ... and its semantic ones,
    assert any("a.yaml:13:" in ln and "exactly one property" in ln for ln in lines)  # every one of them
    write(tmp_path, "a.yaml", """rules:
  - id: one
    match: {queries: [red shirt]}
  - id: two
    match: {queries: ["Red  Shirt!"], patterns: ['t-shirt', '^Nike', '(?i)^Nike', '(shoe|T-shirt)']}
""")
    res = run_cli("rules", "check", str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "a.yaml:4: warning: rule 'two': exact query 'red shirt' is already claimed by rule 'one'" in out
    assert "pattern 't-shirt' can never match: it requires '-'" in out and "pattern '^Nike' can never match" in out
    assert "(?i)^Nike" not in out and "(shoe|T-shirt)" not in out  # ignore-case, and an alternative: no claim
    assert "OK with 3 warning(s)" in out
