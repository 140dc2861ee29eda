"""Issue 16: `sidecar rules diff` (replay from a queries file and from the decision log) and the
/inspect page, the page driven in a real headless Chromium."""
from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest

from conftest import FASHION, ROOT, run_cli
from sidecar.config import Config
from sidecar.search.pipeline import run_search
from sidecar.retrieval.memory import MemoryBackend
from sidecar.rules import load_rules_dir
from sidecar.server import create_app

CAP_30 = '{field: brand, any: true, max: 0.3, label: "one brand <= 30%"}'
CAP_50 = '{field: brand, any: true, max: 0.5, label: "one brand <= 50%"}'


def rules_copy(tmp: Path, name: str, old: str | None = None, new: str = "") -> Path:
    """The shipped rules, with ``old`` replaced by ``new`` in the default rule's file."""
    out = tmp / name
    shutil.copytree(ROOT / "query_rules", out)
    if old is not None:
        f = out / "00-default.yaml"
        text = f.read_text()
        assert old in text
        f.write_text(text.replace(old, new))
    return out


@pytest.fixture(scope="module")
def edit(tmp_path_factory):
    """A brand cap tightened from 0.5 to 0.3 in the default rule: OLD has 50%, NEW as shipped."""
    tmp = tmp_path_factory.mktemp("edit")
    return rules_copy(tmp, "old", CAP_30, CAP_50), rules_copy(tmp, "new")


@pytest.fixture(scope="module")
def slice_queries(fashion_slice, tmp_path_factory) -> Path:
    rows = [json.loads(line) for line in (FASHION / "queries-dev.jsonl").read_text().splitlines()[:40]]
    out = tmp_path_factory.mktemp("q") / "queries.jsonl"
    out.write_text("".join(json.dumps({"query": r["query"], "judgments": r["judgments"]}) + "\n" for r in rows))
    return out


def test_a_tightened_brand_cap_changes_the_pages_the_service_would_change(fashion_slice, slice_queries, edit, tmp_path):
    """The diff's pages are the pages /search gives under each rule set (run independently
    through the service's pipeline, with the query encoder as /search has it: hybrid), and its
    constraint rows are those pages' brand shares."""
    from sidecar.encoder import load
    from sidecar.search.pipeline import named_values
    from sidecar.rerank.named import fold
    catalog, vectors = fashion_slice
    old, new = edit
    out = tmp_path / "diff.json"
    res = run_cli("rules", "diff", str(old), str(new), "--queries", str(slice_queries), "--backend", "memory",
                  "--catalog", str(catalog), "--vectors", str(vectors), "--k", "10", "--out", str(out),
                  "--html", str(tmp_path / "diff.html"), "--quiet")
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert report["mode"] == "hybrid"
    backend, encode = MemoryBackend(catalog, vectors), load("minilm").query
    sets = {"before": load_rules_dir(old), "after": load_rules_dir(new)}
    changed, newly_met = set(), set()
    for r in report["results"]:
        pages = {}
        for side, rs in sets.items():
            resp = run_search({"q": r["query"], "size": 10}, backend, rs, 1000, encode=encode).response
            pages[side] = resp["hits"]
            assert r[side]["page"] == [h["id"] for h in resp["hits"]], (r["query"], side)
        if r["before"]["page"] != r["after"]["page"]:
            changed.add(r["query"])
        # a brand the query names is left alone by the cap (respect_query): not counted, as /search holds it
        named = {side: named_values(sets[side].match(r["query"], {}).rule, r["query"], backend.vocabulary)
                 .get("brand", frozenset()) for side in sets}
        shares = {side: max(Counter(b for h in hits if fold(b := h["fields"].get("brand")) not in named[side]).values(),
                            default=0) / len(hits)
                  for side, hits in pages.items() if hits}
        row = next((c for c in r["constraints"] if c["label"] == "one brand <= 30%"), None)
        if row is not None and shares:
            assert row["share_before"] == pytest.approx(shares["before"], abs=1e-4)
            assert row["share_after"] == pytest.approx(shares["after"], abs=1e-4)
            if shares["before"] > 0.3 + 1e-9 and shares["after"] <= 0.3 + 1e-9:
                newly_met.add(r["query"])
    assert {r["query"] for r in report["results"] if r["page_changed"]} == changed and changed
    assert {m["query"] for m in report["summary"]["newly_met"] if m["constraint"] == "one brand <= 30%"} == newly_met
    assert newly_met, "tightening the cap should newly meet it somewhere"
    assert report["summary"]["constraints_broken"] == 0
    assert "ndcg_delta" in report["summary"] and report["summary"]["judged"] == 40
    html = (tmp_path / "diff.html").read_text()
    assert all(q in html for q in list(changed)[:5]) and "constraints broken" in html
    assert f"{len(changed)} pages changed" in res.stdout


def test_each_query_is_retrieved_once_for_both_sides(edit):
    from datetime import datetime, timezone

    from sidecar.preview.replay import compare_query
    from sidecar.preview.sources import ReplayQuery

    class Counting(MemoryBackend):
        calls = 0

        def retrieve(self, req):
            Counting.calls += 1
            return super().retrieve(req)

    backend = Counting(ROOT / "demo" / "catalog.jsonl", ROOT / "demo" / "vectors.npy")
    old, new = (load_rules_dir(d) for d in edit)
    now = datetime.now(timezone.utc)
    for before in (old, None):  # a rules diff, and the inspector's baseline against the rules
        Counting.calls = 0
        c = compare_query(backend, before, new, ReplayQuery("puma shoes"), k=10, mode="bm25", max_window=1000, now=now)
        assert Counting.calls == 1 and len(c.before.ids) == len(c.after.ids) == 10


WORDS_ONLY = ("understanding:\n  fields: {gender: filter, colour: filter}\n  prices: filter\n",
              "understanding:\n  fields: {}\n  prices: none\n")


def test_fail_on_broken_gates_an_edit_that_removes_a_constraint(tmp_path):
    """Removing the brand cap lets one brand take over a page: exit 1. (A query naming the brand,
    "puma shoes", is no longer capped at all: the cap yields to the shopper's words.) The sets read
    queries as words only, so that "white" is the search's and not a filter."""
    base = rules_copy(tmp_path, "base", *WORDS_ONLY)
    removed = rules_copy(tmp_path, "removed", *WORDS_ONLY)
    (removed / "00-default.yaml").write_text((removed / "00-default.yaml").read_text().replace(f"      - {CAP_30}\n", ""))
    harmless = rules_copy(tmp_path, "harmless", *WORDS_ONLY)
    (harmless / "00-default.yaml").write_text((harmless / "00-default.yaml").read_text().replace(
        "description: brand and seller variety", "description: brand and seller variety (reworded)"))
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "white tshirt"}\n{"query": "black jacket"}\n')
    common = ["--queries", str(queries), "--backend", "memory", "--mode", "bm25", "--fail-on", "broken", "--quiet"]
    broken = run_cli("rules", "diff", str(base), str(removed), *common)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "broken: one brand <= 30% on 'white tshirt'" in broken.stdout
    ok = run_cli("rules", "diff", str(base), str(harmless), *common)
    assert ok.returncode == 0 and "0 broken" in ok.stdout, ok.stdout + ok.stderr
    read = rules_copy(tmp_path, "read", *WORDS_ONLY)  # only the understanding differs: pages change, no rule
    words = run_cli("rules", "diff", str(ROOT / "query_rules"), str(read), *common)
    assert words.returncode == 0 and "0 matched a different rule" in words.stdout and "2 pages changed" in words.stdout
    bad = run_cli("rules", "diff", str(ROOT / "query_rules"), str(tmp_path / "nope"), *common)
    assert bad.returncode == 2 and "not a directory" in bad.stderr


def test_replay_from_the_decision_log(os_url, os_client, tmp_path):
    """Searches logged to the real decision-log index are replayed most frequent first, with their
    filters."""
    prefix = "test-replay-log"
    os_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    app = create_app(Config.load(environ={}, backend="memory", rules=str(ROOT / "query_rules"), rules_poll_seconds=0,
                                 catalog=str(ROOT / "demo" / "catalog.jsonl"), vectors=str(ROOT / "demo" / "vectors.npy"),
                                 opensearch_url=os_url, decision_log="on", decision_log_index=prefix))
    c = app.test_client()
    asked = [{"q": "Puma Shoes"}] * 3 + [{"q": "black jacket", "filters": {"condition": "new"}}] * 2 + [{"q": "watch"}]
    for body in asked:
        assert c.post("/search", json=body).status_code == 200
    writer = app.extensions["sidecar"].decision_log
    assert writer.flush(30)
    os_client.indices.refresh(index=f"{prefix}-*")
    removed = rules_copy(tmp_path, "removed", f"      - {CAP_30}\n")
    out = tmp_path / "log.json"
    res = run_cli("rules", "diff", str(ROOT / "query_rules"), str(removed), "--from-log", prefix, "--url", os_url,
                  "--since", "1h", "--top", "2", "--backend", "memory", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    got = [(r["query"], r["filters"], r["count"]) for r in report["results"]]
    assert got == [("puma shoes", {}, 3), ("black jacket", {"condition": "new"}, 2)]
    writer.close(5)
    os_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)


@pytest.mark.parametrize("args, says", [
    (["--from-log", "test-no-such-log", "--backend", "opensearch", "--index", "test-no-such-index"],
     "no /search queries in test-no-such-log-*"),
    (["--queries", "{queries}", "--backend", "opensearch", "--index", "test-no-such-index"],
     "has no index test-no-such-index: pass the right one with --index"),
])
def test_cli_failures_of_opensearch_are_one_line_never_a_traceback(os_url, tmp_path, args, says):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "black jacket"}\n')
    args = [a.format(queries=queries) for a in args]
    res = run_cli("rules", "diff", str(ROOT / "query_rules"), str(ROOT / "query_rules"), "--url", os_url, *args, "--quiet")
    assert res.returncode in (1, 2) and "Traceback" not in res.stderr, res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert line.startswith("error: ") and says in line, line


def test_cli_with_opensearch_down_is_one_line():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    res = run_cli("rules", "diff", str(ROOT / "query_rules"), str(ROOT / "query_rules"), "--from-log", "x", "--url", dead,
                  "--quiet")
    assert res.returncode == 1 and res.stderr.strip() == (f"error: OpenSearch is not reachable at {dead} (start it with "
                                                          "scripts/opensearch.sh start, or pass --url)"), res.stderr


# --- the inspector page ----------------------------------------------------------------------

def make_app(**kw):
    return create_app(Config.load(environ={}, backend="memory", rules=str(ROOT / "query_rules"), rules_poll_seconds=0,
                                  catalog=str(ROOT / "demo" / "catalog.jsonl"), vectors=str(ROOT / "demo" / "vectors.npy"),
                                  **kw))


def test_inspect_renders_both_pages_and_guards_with_the_token():
    c = make_app(admin_token="tok-preview-test-0004").test_client()
    assert c.get("/inspect?q=puma+shoes").status_code == 401
    r = c.get("/inspect?q=puma+shoes&token=tok-preview-test-0004")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert 'id="baseline"' in html and 'id="reranked"' in html and "one brand &lt;= 30%" in html
    assert "placed by" in html or "default: next by score" in html
    # by default the page retrieves as /search would (text alone, the encoder on: hybrid)
    assert "retrieved by hybrid (as /search would)" in html
    bm25 = c.get("/inspect?q=puma+shoes&mode=bm25&token=tok-preview-test-0004").get_data(as_text=True)
    assert "retrieved by bm25" in bm25 and "as /search would" not in bm25
    # "puma" names a brand: the page says why Puma is not capped
    assert "named in the query (brand: Puma): its field's constraints let it be" in html
    assert "named in the query" not in c.get("/inspect?q=black+shoes&token=tok-preview-test-0004").get_data(as_text=True)
    bad = c.post("/inspect", data={"q": "shoes", "token": "tok-preview-test-0004", "draft": "rules:\n  - id: d\n    match: {default: true\n"})
    assert bad.status_code == 400 and "draft:" in bad.get_data(as_text=True)
    open_ = make_app().test_client()  # no token configured: loopback clients only
    assert open_.get("/inspect", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert open_.get("/inspect", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    far = open_.get("/inspect", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert far.status_code == 403 and "SIDECAR_ADMIN_TOKEN" in far.json["error"]["message"]
    for name, value in (("X-Frame-Options", "DENY"), ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer")):
        assert r.headers[name] == value and bad.headers[name] == value
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src 'none': no script at all
    bomb = ("rules:\n  - id: d\n    match: {default: true}\n"
            "    dedup: {field: title, threshold: 0.05, num_perm: 1024}\n")
    bounded = c.post("/inspect", data={"q": "shoes", "token": "tok-preview-test-0004", "draft": bomb})
    assert bounded.status_code == 400 and "SIDECAR_MAX_NUM_PERM" in bounded.get_data(as_text=True)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Selenium through Debian's chromedriver (installed by
    scripts/setup.sh --opensearch); skipped only where they cannot be installed."""
    driver_path, binary = shutil.which("chromedriver"), shutil.which("chromium")
    if not (driver_path and binary):
        pytest.skip("chromium and chromedriver are not installed (scripts/setup.sh --opensearch installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served():
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def wait_for(browser, ready, timeout: float = 30):
    """Wait until the page the click loads shows what the test reads (a click returns before the
    next page is there: reading at once raced it)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(ready)


def test_the_inspector_in_a_real_browser(browser, served, results_dir):
    from selenium.webdriver.common.by import By

    browser.get(f"{served}/inspect")
    box = browser.find_element(By.ID, "q")
    box.send_keys("puma shoes")
    browser.find_element(By.ID, "submit").click()
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#reranked li.item")) == 10)
    left = browser.find_elements(By.CSS_SELECTOR, "#baseline li.item")
    right = browser.find_elements(By.CSS_SELECTOR, "#reranked li.item")
    assert len(left) == len(right) == 10
    whys = [li.find_element(By.CSS_SELECTOR, ".why").text for li in right]
    assert all("retrieved #" in w for w in whys) and any(w.startswith(("placed by", "default")) for w in whys)
    assert any(li.find_element(By.CSS_SELECTOR, ".move").text in ("new",) or
               li.find_element(By.CSS_SELECTOR, ".move").text.startswith(("↑", "↓")) for li in right)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.constraints tr")
    assert any("one brand <= 30%" in r.text for r in rows)
    assert browser.save_screenshot(str(results_dir / "inspect.png"))
    # a draft with a syntax error: the error and its line, and the form keeps what was typed
    browser.get(f"{served}/inspect?q=puma+shoes")
    draft = browser.find_element(By.ID, "draft")
    draft.send_keys("rules:\n  - id: draft\n    match: {default: true}\n    constraints: [{field: brand, max: 0.2, any: true}\n")
    browser.find_element(By.ID, "submit").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "error"))
    error = browser.find_element(By.ID, "error").text
    assert "draft:4: YAML syntax error" in error and "unclosed bracket" in error, error
    assert browser.find_element(By.ID, "q").get_attribute("value") == "puma shoes"
