"""Render the generated parts of README.md and docs/*.md between their markers: the configuration
table (from sidecar.config.SETTINGS), the rule reference (from sidecar/schema/rules.schema.json),
the tables of benchmark figures (from the bench/results/*.json their scripts write), and
docs/openapi.json (the OpenAPI document GET /openapi.json serves).

    python scripts/render_docs.py          # rewrite README.md and docs/*.md
    python scripts/render_docs.py --check  # exit 1 if one is out of date (used by the tests)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.config import SETTINGS  # noqa: E402
from sidecar.rerank import properties  # noqa: E402
from sidecar.rerank.strategies import BASE_ORDER_KEYS  # noqa: E402
from sidecar.rules.file_schema import schema  # noqa: E402


def config_table() -> str:
    rows = ["| variable | `sidecar serve` flag | values | default | meaning |", "| --- | --- | --- | --- | --- |"]
    flags = {"backend": "--backend", "catalog": "--catalog", "vectors": "--vectors", "rules": "--rules",
             "opensearch_url": "--url", "index": "--index", "host": "--host", "port": "--port", "workers": "--workers"}
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default != "" else "(empty)"
        if s.choices:
            values = " or ".join(f"`{c}`" for c in s.choices)
        else:
            values = s.kind.__name__ + (f" >= {s.lo:g}" if s.lo is not None and s.hi is None else "") + \
                (f" in [{s.lo:g}, {s.hi:g}]" if s.lo is not None and s.hi is not None else "")
        rows.append(f"| `{s.env}` | {('`' + flags[s.name] + '`') if s.name in flags else ''} | {values} | {default} | "
                    f"{s.help} |")
    return "\n".join(rows)


def _type(spec: dict, defs: dict) -> str:
    if "$ref" in spec:
        name = spec["$ref"].split("/")[-1]
        return {"fraction": "number in (0, 1]", "scalar": "string, number or boolean", "order": "object"}.get(name, name)
    if "enum" in spec:
        return " or ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    t = spec.get("type", "")
    if t == "array":
        return f"list of {_type(spec.get('items', {}), defs)}"
    if isinstance(t, list):
        return " or ".join(t)
    bounds = []
    for key, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<=")):
        if key in spec:
            bounds.append(f"{sym} {spec[key]}")
    return t + (f" ({', '.join(bounds)})" if bounds else "")


def rule_reference() -> str:
    s = schema()
    defs = s["$defs"]
    out = []

    def table(title: str, props: dict) -> None:
        nonlocal out
        out += [f"**{title}**", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for key, spec in props.items():
            default = f"`{spec['default']}`" if "default" in spec else ""
            desc = spec.get("description", "")
            if key in (*BASE_ORDER_KEYS, "dedup", "match", "constraints", "fusion") and title.startswith("rule"):
                desc = (desc + "; " if desc else "") + "see below"
            out.append(f"| `{key}` | {_type(spec, defs)} | {default} | {desc} |")
        out.append("")

    sections = [("rule (an item of `rules:`)", defs["rule"]["properties"]), ("`match`", defs["match"]["properties"]),
                (f"{', '.join(f'`{k}`' for k in BASE_ORDER_KEYS[:-1])} and `{BASE_ORDER_KEYS[-1]}` (the base order: at most one "
                 "of them)",
                 defs["order"]["properties"]),
                ("`dedup`", defs["rule"]["properties"]["dedup"]["properties"]),
                ("`fusion` (hybrid searches)", defs["rule"]["properties"]["fusion"]["properties"]),
                ("constraint (an item of `constraints:`)", defs["constraint"]["properties"])]
    for title, props in sections:
        table(title, props)
    named = ", ".join("/".join(f"`{k}`" for k in sorted(p.keys)) for p in properties.REGISTERED)
    max_only = " and ".join(f"`{k}`" for k in properties.max_only_keys())
    out.append(f"A constraint has exactly one property ({named}) and exactly one of `min` / `max`; "
               f"{max_only} (one agent per value) go with `max` only. Unknown keys are errors.")
    out.append("")
    table("experiment (an item of `experiments:`, [experiments.md](experiments.md))", defs["experiment"]["properties"])
    return "\n".join(out).rstrip("\n")


def encoder_table() -> str:
    r = json.loads((ROOT / "bench" / "results" / "encoder.json").read_text())
    return "\n".join([
        "| measure | figure | target |", "| --- | --- | --- |",
        f"| encode one query, p50 (p99) | {r['encode_ms']['p50']:.1f} ms ({r['encode_ms']['p99']:.1f}) | |",
        f"| the kNN search it feeds (window 200), p50 (p99) | {r['knn_search_ms']['p50']:.1f} ms "
        f"({r['knn_search_ms']['p99']:.1f}) | |",
        f"| encode / kNN, p50 | {r['encode_over_knn_p50']:.2f} | <= 0.5 |",
        f"| a cache hit, p50 | {r['cache_hit_ms']['p50'] * 1000:.1f} µs | <= 50 µs |",
        f"| embedding the {r['catalog']['titles']:,} fashion titles ({r['cores']} cores) | {r['catalog']['seconds']:.0f} s "
        f"({r['catalog']['titles_per_second']} titles/s) | <= 180 s |",
        f"| RSS a worker gains from the encoder | {r['worker_rss_mb']['gain']:.0f} MB "
        f"({r['worker_rss_mb']['before']:.0f} -> {r['worker_rss_mb']['after']:.0f}) | reported |"])


def peer_table() -> str:
    r = json.loads((ROOT / "bench" / "results" / "peer.json").read_text())
    lat, cpu, tp = r["latency"], r["cpu_ms_per_request"], r["throughput"]
    rows = [("a. OpenSearch native MMR", "a_opensearch_native_mmr", "a"),
            ("b. sidecar MMR + caps + dedup", "b_sidecar_mmr_caps_dedup", "b"),
            ("c. plain kNN top-20, direct", "c_plain_knn_top20", "c"),
            ("d. hybrid msearch, direct", "d_direct_msearch", "d_direct"),
            ("d. hybrid `/search`, sidecar", "d_sidecar_hybrid_default_rule", "d_sidecar"),
            ("d. hybrid msearch, direct, no faster than the sidecar's search ran", None, "d_direct_paced"),
            ("d. hybrid msearch, direct, with the sidecar's parameters", None, "d_direct_params"),
            ("d. hybrid msearch, direct, while a process keeps one core busy", None, "d_direct_busy"),
            ("d. words only (understanding off), direct", "d_words_direct_msearch", "d_words_direct"),
            ("d. words only (understanding off), sidecar", "d_words_sidecar", "d_words_sidecar"),
            ("e. `GET /healthz`, sidecar", "e_sidecar_healthz_hop", "e")]
    rows = [row for row in rows if row[1] in lat or (row[1] is None and row[2] in cpu)]  # what the run has
    out = [f"`{r['command'].strip()}` ({r['documents']:,} products, {r['workers']} workers, concurrency "
           f"{r['throughput_concurrency']}; CPU from /proc, the mean of the rounds):", "",
           "| case | p50 ms | p99 ms | req/s | sidecar CPU ms/req | OpenSearch CPU ms/req | OpenSearch searches/req |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, key, case in rows:
        p50, p99 = (lat[key]["p50_ms"], lat[key]["p99_ms"]) if key else ("-", "-")  # (a throughput case only)
        out.append(f"| {label} | {p50} | {p99} | {tp[case]['requests_per_second']} | "
                   f"{cpu[case]['sidecar_ms']} | {cpu[case]['opensearch_ms']} | {cpu[case].get('searches', '-')} |")
    out += ["", "| ratio (same run) | measured |", "| --- | --- |"]
    out += [f"| b p50 / a p50 | {r['ratios']['b_over_a_p50']} |",
            f"| d p50: sidecar / direct | {r['ratios']['d_sidecar_over_direct_p50']} |",
            f"| throughput d: sidecar / direct | {r['throughput_ratios']['d_sidecar_over_direct']} |"]
    out += [f"| {k} | {v} |" for k, v in r["cpu_ratios"].items()]
    return "\n".join(out)


def cpu_tables() -> str:
    """Where a hybrid search's CPU goes (profile_search), what each part of the round trip costs
    on both sides (bench_round_trip), and the WSGI server alternative (bench_servers)."""
    phases = json.loads((ROOT / "bench" / "results" / "cpu_phases.json").read_text())
    trip = json.loads((ROOT / "bench" / "results" / "round_trip.json").read_text())
    servers = json.loads((ROOT / "bench" / "results" / "servers.json").read_text())
    out = [f"`{phases['command']}` (in-process, one request at a time, this thread's CPU; phases nest):", "",
           "| part of a hybrid `/search` | CPU ms / request |", "| --- | --- |"]
    out += [f"| {'&nbsp;&nbsp;' if name.startswith(' ') else ''}{name.strip()} | {ms} |"
            for name, ms in phases["cpu_ms_per_request"].items()]
    out += ["", f"`{trip['command']}` (the backend's hybrid msearch, {trip['rounds']} blocks of "
            f"{trip['requests_per_block']} requests per variant, taking turns):", "",
            "| variant | client CPU ms / request | OpenSearch CPU ms / request | OpenSearch, each block |",
            "| --- | --- | --- | --- |"]
    out += [f"| {name} | {v['client_cpu_ms']} | {v['opensearch_cpu_ms']} | "
            f"{', '.join(f'{x:.1f}' for x in v['opensearch_cpu_ms_blocks'])} |" for name, v in trip["variants"].items()]
    out += ["", "| ratio | client | OpenSearch |", "| --- | --- | --- |"]
    out += [f"| {k} | {v['client']} | {v['opensearch']} |" for k, v in trip["ratios"].items()]
    out += ["", f"`{servers['command']}` ({servers['workers']} workers each, granian with "
            f"{servers['granian_blocking_threads']} blocking threads a worker, concurrency {servers['concurrency']}; "
            "CPU of each server's process tree, median of the rounds):", "",
            "| server | `/search` CPU ms / req (rounds) | `/search` req/s | `/healthz` CPU ms / req (rounds) | `/healthz` req/s |",
            "| --- | --- | --- | --- | --- |"]
    for name, v in servers["servers"].items():
        s_, h = v["/search"], v["/healthz"]
        out.append(f"| {name} | {s_['cpu_ms_per_request']} ({', '.join(map(str, s_['cpu_ms_rounds']))}) | "
                   f"{s_['requests_per_second']} | {h['cpu_ms_per_request']} ({', '.join(map(str, h['cpu_ms_rounds']))}) | "
                   f"{h['requests_per_second']} |")
    out += ["", "| ratio (same run) | measured |", "| --- | --- |"]
    out += [f"| {k} | {v} |" for k, v in servers["ratios"].items()]
    out += ["", f"`rerank_batch` in the request path and the same calls in a loop (`{phases['command']}`, CPU ms p50):", "",
            "| where | CPU ms |", "| --- | --- |"]
    out += [f"| {k} | {v} |" for k, v in phases["rerank_batch_cpu_ms_p50"].items()]
    return "\n".join(out)


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def core_table() -> str:
    r = json.loads((ROOT / "bench" / "results" / "rerank.json").read_text())
    res, ratios, same = r["results"], r["results"]["ratios"], r["results"]["same_selection"]

    def p(key: str) -> str:
        return f"p50 {res[key]['p50_ms']:.3f} ms, p99 {res[key]['p99_ms']:.3f}"

    def order(key: str, target: float | None) -> list[str]:
        speed = ratios[f"{key}_speedup_vs_pyversity"]
        verdict = "reported" if target is None else _verdict(speed >= target)
        return [f"{key.upper()} alone, k = 50, against pyversity in the same run",
                f"ours {res[f'{key}_k50_ours']['p50_ms']:.3f} ms, pyversity {res[f'{key}_k50_pyversity']['p50_ms']:.3f} ms: "
                f"**{speed}x**, {'same' if same[key] else '**a different**'} selection",
                f">= {target}x: {verdict}" if target is not None else verdict]

    full = res["full_5c_dedup_mmr_k50"]
    rows = [
        ["`rerank_batch` on 1,000 kNN candidates (384-d) as a `CandidateBatch`: 5 constraints (brand any, seller "
         "any, condition min, price range min, category any) + dedup (collapse) + MMR, select 50",
         f"{p('full_5c_dedup_mmr_k50')}; interleaved with the JSON case (its 15 MB of lists churn the caches): "
         f"{p('full_interleaved')}",
         f"p50 <= 2 ms, p99 <= 4 ms: {_verdict(full['p50_ms'] <= 2 and full['p99_ms'] <= 4)}"],
        ["the agent loop alone, 5 constraints, select 50 (score order)", p("agents_5c_k50"),
         f"p50 <= 0.3 ms: {_verdict(res['agents_5c_k50']['p50_ms'] <= 0.3)}"],
        order("mmr", 3), order("dpp", 1), order("msd", None),
        ["near-duplicate grouping of the 1,000 (signatures + titles), pairs verified by exact Jaccard",
         f"{p('dedup_1000_verified')}; decoding 1,000 base64 signatures, apart: "
         f"{res['decode_1000_base64_signatures']['p50_ms']:.3f} ms",
         f"p50 <= 0.5 ms: {_verdict(res['dedup_1000_verified']['p50_ms'] <= 0.5)}"],
        ["JSON path: `rerank(request)`, 1,000 candidate dicts with vector lists and titles, signatures computed "
         "on the fly, against `numpy.asarray` of the vector lists alone",
         f"{res['json_rerank_request']['p50_ms']:.1f} ms against {res['json_numpy_asarray_floor']['p50_ms']:.1f} ms: "
         f"**{ratios['json_path_over_asarray']}x**", f"<= 1.3x: {_verdict(ratios['json_path_over_asarray'] <= 1.3)}"],
        ["200 `vector_f16` strings decoded by the compiled pass, against `binascii`",
         f"{res['decode_200_vector_f16_compiled']['p50_ms']:.3f} against "
         f"{res['decode_200_vector_f16_binascii']['p50_ms']:.3f} ms: {ratios['base64_speedup_vs_binascii']}x", "reported"],
        ["RSS a fresh interpreter (numpy, flask, opensearch-py imported) gains from importing and warming the core",
         f"{res['memory']['rss_before_mib']} -> {res['memory']['rss_after_mib']} MiB: +{res['memory']['gained_mib']} MiB",
         "reported"],
    ]
    floor = res["json_numpy_asarray_floor"]["p50_ms"]
    return "\n".join([f"`{r['meta']['command'].strip()}` (300 calls a case; absolute cases each in its own loop, "
                      "ratio pairs alternating call by call). The absolute targets were set when this machine "
                      "turned 1,000 vector lists into an array (`numpy.asarray`, memory-bound) in 5.1 ms; this "
                      f"run took {floor:.1f} ms for it, so this run's absolute figures come from a machine about {floor / 5.1:.1f}x slower "
                      "than then (its ratios compare moments of one run):", "", "| what | measured | target |",
                      "| --- | --- | --- |", *(f"| {a} | {b} | {c} |" for a, b, c in rows)])


def other_rows() -> str:
    """The rule-loading and near-duplicate recall rows, from their benches' results."""
    rules = json.loads((ROOT / "bench" / "results" / "rules.json").read_text())
    recall = json.loads((ROOT / "bench" / "results" / "dedup-recall.json").read_text())
    w, b = recall["results"]["windows"], recall["results"]["blocks"]
    miss_w = w["missed_by_band_keys"] + w["missed_by_estimate_prescreen"]
    miss_b = b["missed_by_band_keys"] + b["missed_by_estimate_prescreen"]
    missed = miss_w + miss_b
    pairs = w["pairs_jaccard_at_least_threshold_not_identical"] + b["pairs_jaccard_at_least_threshold_not_identical"]
    loads = rules["load_seconds_all"]
    m = {k: rules[k]["p50_us"] for k in ("match_exact", "match_pattern_hit_first_file", "match_default_scans_all_patterns")}
    return "\n".join([
        "| what | command | measured | target |", "| --- | --- | --- | --- |",
        f"| near-duplicate pairs the band keys miss, real catalog titles, threshold {recall['meta']['threshold']} | "
        f"`{recall['meta']['command'].strip()}` | {miss_b} of {b['pairs_jaccard_at_least_threshold_not_identical']:,} "
        f"pairs (brand-and-category blocks) and {miss_w} of {w['pairs_jaccard_at_least_threshold_not_identical']:,} "
        f"(dev kNN windows) with {recall['meta']['threshold']} <= Jaccard < 1 | < 1%: {_verdict(missed < 0.01 * pairs)} |",
        f"| load {rules['rules']:,} rules (10 files), cold | `python bench/bench_rules.py` | {min(loads):.2f}–"
        f"{max(loads):.2f} s over three loads (reload after editing one file: "
        f"{rules['reload_after_editing_one_of_the_files_seconds']:.2f} s) | < 1 s: {_verdict(max(loads) < 1)} |",
        f"| match a query, {rules['rules']:,} rules (1,000 with a pattern) | same | exact p50 {m['match_exact']:.1f} µs; "
        f"pattern hit p50 {m['match_pattern_hit_first_file']:.1f} µs; no match, falling through every pattern to the "
        f"default, p50 {m['match_default_scans_all_patterns']:.1f} µs | < 50 µs: {_verdict(max(m.values()) < 50)} |"])


def eval_table() -> str:
    r = json.loads((ROOT / "bench" / "results" / "eval-knn.json").read_text())
    main = ["baseline", "mmr", "rules", "agents", "agents+dedup", "agents+mmr"]
    s = r["strategies"]
    caps = sorted(s["baseline"]["constraint_satisfaction"])
    head = ["strategy", "nDCG@10", "MRR", "MAP", "distinct brands", "max brand share", "max seller share", "ILD",
            "categories", "near-dup pairs", *(f"{c} holds" for c in caps), "rerank p50 ms"]
    out = [f"`{r['config']['command']}`", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name in main:
        m = s[name]
        cells = [name, f"{m['ndcg@10']:.3f}", f"{m['mrr']:.3f}", f"{m['map']:.4f}", f"{m['distinct_brands']:.2f}",
                 f"{m['max_brand_share']:.3f}", f"{m['max_seller_share']:.3f}", f"{m['ild']:.3f}",
                 f"{m['category_spread']:.2f}", f"{m['near_dup_pairs']:.2f}",
                 *(f"{m['constraint_satisfaction'][c]:.2f}" for c in caps), f"{m['rerank_p50_ms']:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    sweep = [k for k in s if k.startswith("rules[")]
    if sweep:
        out += ["", "| the shipped rules at | nDCG@10 | " + " | ".join(f"{c} holds" for c in caps) + " |",
                "|" + " --- |" * (len(caps) + 2)]
        out += [f"| {k[len('rules['):-1].replace('lambda', 'λ')} | {s[k]['ndcg@10']:.3f} | " +
                " | ".join(f"{s[k]['constraint_satisfaction'][c]:.2f}" for c in caps) + " |" for k in sweep]
    feasible = s["rules"]["constraint_feasible_pages"]
    shipped = s["rules"]
    caps_held = {c: shipped["constraint_satisfaction"][c] for c in caps if "<=" in c}
    out += ["", "A constraint \"holds\" on the share of pages where it holds at K, among the pages where a page "
            "satisfying it existed in the retrieved window (" +
            ", ".join(f"{c}: {feasible[c]} pages" for c in caps) + "). The shipped rules (`rules`): nDCG@10 "
            f"{shipped['ndcg@10']:.3f} = {shipped['ndcg@10'] / s['baseline']['ndcg@10']:.1%} of the baseline, "
            f"{shipped['near_dup_pairs']:.2f} near-duplicate pairs a page (baseline "
            f"{s['baseline']['near_dup_pairs']:.2f}). Against the targets of agent algorithm version 3: every cap "
            f"holds on its feasible pages ({', '.join(f'{c} {v:.0%}' for c, v in caps_held.items())}; target 100%: "
            f"{_verdict(all(v == 1.0 for v in caps_held.values()))}), near-duplicate pairs <= 0.05 a page: "
            f"{_verdict(shipped['near_dup_pairs'] <= 0.05)}, nDCG@10 >= 95% of the baseline: "
            f"{_verdict(shipped['ndcg@10'] >= 0.95 * s['baseline']['ndcg@10'])}."]
    return "\n".join(out)


def experiments_table() -> str:
    r = json.loads((ROOT / "bench" / "results" / "experiments.json").read_text())
    ab, il = r["ab_sessions_median"], r["interleaving_sessions_median"]
    worse = r["runs_favouring_the_worse"]
    return "\n".join([
        f"`{r['command'].strip()}` ({r['queries']} queries, `{r['model']}` shoppers, {r['runs']} runs; an A/B run "
        f"simulates {r['sessions_per_run']['ab']:,} sessions, an interleaving run "
        f"{r['sessions_per_run']['interleaving']:,}):", "",
        "| measure | figure | target |", "| --- | --- | --- |",
        f"| the set the judgments prefer (nDCG@10 of its pages) | {r['better_by_ndcg']} | |",
        f"| sessions A/B needs (95%, 80% power), median | {ab:,.0f} | |",
        f"| sessions interleaving needs, median | {il:,.0f} | |",
        f"| A/B / interleaving | {ab / il:.1f}x | >= 10x: {_verdict(ab / il >= 10)} |",
        f"| runs whose sessions favoured the worse set | A/B {worse['ab']}, interleaving {worse['interleaving']} of "
        f"{r['runs']} | |",
        f"| no difference, a winner declared ({r['aa_runs']} tests of {r['aa_sessions']:,} sessions) | "
        f"{r['aa_false_winner_rate']:.1%} | <= 5%: {_verdict(r['aa_false_winner_rate'] <= 0.05)} |",
        *([f"| of which A/B, A against A | {r['aa_false_winner_rate_by_method']['ab']:.1%} | |",
           f"| of which interleaving, A against B for position-only shoppers | "
           f"{r['aa_false_winner_rate_by_method']['interleaving']:.1%} | |"]
          if "aa_false_winner_rate_by_method" in r else []),
        *_overhead_rows()])


def _overhead_rows() -> list[str]:
    path = ROOT / "bench" / "results" / "experiment-overhead.json"
    if not path.exists():
        return []
    o = json.loads(path.read_text())
    rows = ["", f"`{o['command'].strip()}` ({o['index']}, {o['documents']:,} products, {o['repeats']} runs of "
                f"{o['rounds']} pairs per method, 1 worker; arm b: {o['arm_b']}): the /search p50 of the same searches "
                "in and out of an experiment of share 1, interleaved in each run; the ratio is the median run's", "",
            "| method | p50 without (ms) | p50 in the experiment (ms) | ratio, each run | ratio | target |",
            "| --- | --- | --- | --- | --- | --- |"]
    for method in ("ab", "interleave"):
        m = o[method]
        median = sorted(m["runs"], key=lambda r: r["p50_ratio"])[len(m["runs"]) // 2]
        rows.append(f"| {method} | {median['without_ms']['p50']} | {median['with_ms']['p50']} | "
                    f"{', '.join(f'{x:.3f}' for x in m['p50_ratios'])} | {m['p50_ratio']:.3f} | "
                    f"<= 1.10: {_verdict(m['p50_ratio'] <= 1.10)} |")
    return rows


def attack_table() -> str:
    """Issue 36's attacks, from bench/results/attack.json."""
    r = json.loads((ROOT / "bench" / "results" / "attack.json").read_text())
    two, soak = r["two_bodies"], r["soak"]
    shop = soak["shopper"]
    statuses = [a["status"] for a in two["answers"]]
    worst = max(a["seconds"] for a in two["answers"])
    limit = r["meta"]["backend_timeout"] + 0.5
    first, last = soak["rss_mb_first_last"]
    errors = {k: v for k, v in shop["status"].items() if k != "200"}
    refused = sum(v for k, v in soak["attack_status"].items() if k.startswith("4"))
    attempts = sum(soak["attack_status"].values())
    return "\n".join([
        f"`{r['meta']['command']}` ({r['meta']['index']}, 2 gevent workers, backend timeout "
        f"{r['meta']['backend_timeout']:g} s, decision log and events on, encoder on; {r['meta']['when']}):", "",
        "| measure | figure | target |", "| --- | --- | --- |",
        f"| two bodies of 1,800 neural queries ({two['body_bytes']:,} bytes each) at once | {statuses} in "
        f"{worst:.3f} s at most | 4xx within 2.5 s: {_verdict(all(400 <= s < 500 for s in statuses) and worst <= 2.5)} |",
        f"| /healthz during them ({two['healthz_probes']} probes) | worst {two['healthz_max_ms']} ms, "
        f"{two['healthz_failed']} failed; worker replaced: {'yes' if two['worker_replaced'] else 'no'} | never fails, "
        f"<= 500 ms, none replaced: {_verdict(two['healthz_failed'] == 0 and two['healthz_max_ms'] <= 500 and not two['worker_replaced'])} |",
        f"| soak: {soak['minutes']:g} min, {soak['shoppers']} shoppers, {soak['attackers']} attackers cycling "
        f"{len(soak['by_attack'])} attacks, a worker SIGKILLed {soak['kills']} times | {attempts:,} attacks, "
        f"{refused:,} refused with a 4xx | |",
        f"| 5xx other than 503/504, shoppers and attackers | {soak['five_xx_not_503_504']} | 0: "
        f"{_verdict(soak['five_xx_not_503_504'] == 0)} |",
        f"| shoppers' p99 ({shop['requests']:,} searches) | {shop['p99_ms']} ms (p50 {shop['p50_ms']} ms; not 200: "
        f"{errors or 'none'}) | <= {limit * 1000:,.0f} ms: {_verdict(shop['p99_ms'] <= limit * 1000)} |",
        f"| server RSS, master and workers (first and last sample) | {first} → {last} MB | flat: "
        f"{_verdict(last <= first * 1.1)} |",
        f"| run dir, largest sample | {soak['run_dir_bytes_max'] / 1e6:.1f} MB (two workers' reserved metric files "
        "and the archives) | flat |",
        f"| server log | {r['log']['tracebacks']} tracebacks, {r['log']['worker_timeouts']} worker timeouts | 0 |"])


def report_scale_table() -> str:
    """The experiment report over millions of events, from bench/results/report-scale.json."""
    r = json.loads((ROOT / "bench" / "results" / "report-scale.json").read_text())
    refused = r["refused"]
    full = r["events"] >= 10_000_000  # the targets are for 10 million events

    def verdict(ok: bool) -> str:
        return _verdict(ok) if full else "(for 10 million events: not this run)"
    return "\n".join([
        f"`{r['command']}` ({r['events']:,} events on {r['pages']:,} pages, written in {r['write_seconds']:.0f} s; "
        f"{r['when']}):", "",
        "| measure | figure | target |", "| --- | --- | --- |",
        f"| the report's wall time (`sidecar experiments report --json`, a child process) | {r['seconds']:,.1f} s | "
        f"<= 60 s: {verdict(r['seconds'] <= 60)} |",
        f"| its peak resident memory (its own `VmHWM`) | {r['peak_rss_mb']:.0f} MB | <= 300 MB: "
        f"{verdict(r['peak_rss_mb'] <= 300)} |",
        f"| events read, credited | {r['events_read']:,}, {r['credited']:,} | |",
        f"| refused by reason | forged {refused['forged']:,}, other client {refused['other_client']:,}, repeat "
        f"{refused['repeat']:,}, not on page {refused['not_on_page']:,}, unknown page {refused['unknown_page']:,} | |",
        f"| the counts equal what was written | {'yes' if r['counts_agree'] else 'no'} | yes |",
        f"| judging each event as it is stored (a search of the decision log a batch of 2,000, the credits and "
        f"markers): CPU per event, OpenSearch / the writer | {r['store_opensearch_us_per_event']} / "
        f"{r['store_client_us_per_event']} µs ({r['events']:,} events stored in {r['store_seconds']:,.0f} s) | |"])


def report_reads_table() -> str:
    """What reading events costs per event, by the way they are read, from bench/results/report-reads.json."""
    r = json.loads((ROOT / "bench" / "results" / "report-reads.json").read_text())
    names = {"sorted_keyword": "sorted by the keyword page id (the report's read before events were judged as stored)",
             "sorted_numeric": "sorted by a numeric page key", "index_order": "unsorted (`_shard_doc`), `_source`",
             "doc_values": "unsorted, doc values instead of `_source`",
             "aggregation": "counted in OpenSearch (one search of no hits: by action, distinct pages)"}
    rows = [f"`{r['command']}` ({r['events']:,} events, {r['cpus']} cores, {r['when']}; CPU per event from /proc):", "",
            "| how the events are read | events | OpenSearch CPU µs/event | report's CPU µs/event | "
            "CPU for 10 million |", "| --- | --- | --- | --- | --- |"]
    for key, label in names.items():
        x = r["reads"][key]
        rows.append(f"| {label} | {x['events']:,} | {x['opensearch_us']} | {x['client_us']} | {x['cpu_s_for_10m']:,} s |")
    return "\n".join(rows)


def semantic_table() -> str:
    return json.loads((ROOT / "bench" / "results" / "semantic.json").read_text())["table"]


def combos_table() -> str:
    return json.loads((ROOT / "bench" / "results" / "combos.json").read_text())["table"]


GENERATED = {"config": config_table, "rules": rule_reference, "semantic": semantic_table, "encoder": encoder_table,
             "peer": peer_table, "cpu": cpu_tables, "core": core_table, "eval": eval_table, "other": other_rows,
             "experiments": experiments_table, "attack": attack_table, "report_scale": report_scale_table,
             "report_reads": report_reads_table, "combos": combos_table}
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def render(text: str) -> str:
    for name, make in GENERATED.items():
        if f"<!-- BEGIN {name} -->" in text:
            body = make()
            text = re.sub(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)",
                          lambda m: m.group(1) + body + "\n" + m.group(2), text, flags=re.S)
    return text


def openapi_text() -> str:
    """The OpenAPI document of the routes as served (GET /openapi.json), as docs/openapi.json holds it."""
    import json

    from sidecar.server.openapi import document
    from sidecar.server.routes import routes_only

    return json.dumps(document(routes_only()), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    stale = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    openapi = ROOT / "docs" / "openapi.json"  # the API's contract, readable without a running server
    document = openapi_text()
    if not openapi.exists() or openapi.read_text(encoding="utf-8") != document:
        stale.append(openapi)
        if not args.check:
            openapi.write_text(document, encoding="utf-8")
    if args.check and stale:
        print(f"{', '.join(p.relative_to(ROOT).as_posix() for p in stale)} out of date: run python scripts/render_docs.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
