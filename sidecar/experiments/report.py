"""What an experiment's pages and the shoppers' events on them say, per arm (pure: the CLI
reads the records from OpenSearch and hands them here).

A *page* is one decision record of the experiment (one /search answered under it); an event
belongs to a page by its ``query_id`` (the page's ``request_id``). Rates are per page: the
share of pages with at least one event of that action (click, add_to_cart, purchase), each
with its Wilson 95% interval, so a shopper clicking ten times on one page counts once. For
``ab`` the arms' rates are compared with a two-proportion z-test. For ``interleave`` each page
with clicks credits each clicked item to its team (the ``teams`` the page was served with); the
page prefers the team with more clicks, and the report gives the share of preferring pages that
prefer b, its Wilson interval and the exact sign test. Limits, stated: pages are not
independent when one shopper makes many (the intervals are then too narrow); a click on an
item that is not on the page it names is not credited to a team.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from .interleave import preference
from .stats import sign_test_p, two_proportion_p, wilson

ACTIONS = ("click", "add_to_cart", "purchase")


def _rate(k: int, n: int) -> dict[str, Any]:
    low, high = wilson(k, n)
    return {"pages_with": k, "rate": round(k / n, 6) if n else None, "low": round(low, 6), "high": round(high, 6)}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def object_of(event: dict[str, Any]) -> str | None:
    return ((event.get("event_attributes") or {}).get("object") or {}).get("object_id")


def summarize(name: str, records: list[dict[str, Any]], events: Iterable[dict[str, Any]],
              points: int = 100) -> dict[str, Any]:
    """The report of experiment ``name`` from its decision records and the events read."""
    pages = sorted((r for r in records if r.get("experiment") == name), key=lambda r: r.get("@timestamp") or "")
    by_query: dict[str, list[dict[str, Any]]] = defaultdict(list)
    read = matched = 0
    known = {r["request_id"] for r in pages}
    for event in events:
        read += 1
        if event.get("query_id") in known:
            matched += 1
            by_query[event["query_id"]].append(event)
    interleaved = any(r.get("arm") == "interleaved" for r in pages)
    out: dict[str, Any] = {"experiment": name, "method": "interleave" if interleaved else "ab", "pages": len(pages),
                           "events_read": read, "events_on_pages": matched}
    if interleaved:
        out["interleaving"], out["running"] = _interleaving(pages, by_query, points)
    else:
        out["arms"], out["difference"], out["running"] = _ab(pages, by_query, points)
    return out


def _acted(page: dict[str, Any], by_query: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {e["action_name"] for e in by_query.get(page["request_id"], ())}


def _diversity(pages: list[dict[str, Any]]) -> dict[str, float | None]:
    """The decision log's figures of these pages: mean constraint satisfaction (pages that had
    a constraint to judge) and near-duplicates collapsed per page."""
    return {"constraint_satisfaction": _mean([p["constraint_satisfaction"] for p in pages
                                              if p.get("constraint_satisfaction") is not None]),
            "dedup_collapsed": _mean([p.get("dedup_collapsed") or 0 for p in pages])}


def _ab(pages: list[dict[str, Any]], by_query: dict[str, list[dict[str, Any]]], points: int
        ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    arms: dict[str, Any] = {}
    counts: dict[str, dict[str, int]] = {}
    acted = [_acted(p, by_query) for p in pages]  # per page, the actions on it
    for arm in ("a", "b"):
        mine = [i for i, p in enumerate(pages) if p.get("arm") == arm]
        counts[arm] = {a: sum(a in acted[i] for i in mine) for a in ACTIONS} | {"pages": len(mine)}
        arms[arm] = {"pages": len(mine), **{a: _rate(counts[arm][a], len(mine)) for a in ACTIONS},
                     **_diversity([pages[i] for i in mine])}
    difference = {}
    for a in ACTIONS:
        ka, na, kb, nb = counts["a"][a], counts["a"]["pages"], counts["b"][a], counts["b"]["pages"]
        difference[a] = {"b_minus_a": round(kb / nb - ka / na, 6) if na and nb else None,
                         "p_value": round(two_proportion_p(ka, na, kb, nb), 6)}
    running, seen = [], {"a": [0, 0], "b": [0, 0]}
    step = max(1, len(pages) // points)
    for i, p in enumerate(pages):
        if p.get("arm") in seen:
            seen[p["arm"]][0] += 1
            seen[p["arm"]][1] += "click" in acted[i]
        if (i + 1) % step == 0 or i + 1 == len(pages):
            (na, ka), (nb, kb) = seen["a"], seen["b"]
            running.append({"t": p.get("@timestamp"), "pages": i + 1,
                            "a": round(ka / na, 6) if na else None, "b": round(kb / nb, 6) if nb else None})
    return arms, difference, running


def _interleaving(pages: list[dict[str, Any]], by_query: dict[str, list[dict[str, Any]]], points: int
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    wins = {"a": 0, "b": 0}
    ties = clicked_pages = uncredited = 0
    running = []
    step = max(1, len(pages) // points)
    for i, p in enumerate(pages):
        ids, teams = p.get("ids_after") or [], p.get("teams") or []
        clicks = {object_of(e) for e in by_query.get(p["request_id"], ()) if e["action_name"] == "click"}
        if clicks:
            clicked_pages += 1
            uncredited += len(clicks - set(ids))
            side = preference(teams, [doc_id in clicks for doc_id in ids])
            if side is None:
                ties += 1
            else:
                wins[side] += 1
        if (i + 1) % step == 0 or i + 1 == len(pages):
            n = wins["a"] + wins["b"]
            low, high = wilson(wins["b"], n)
            running.append({"t": p.get("@timestamp"), "pages": i + 1, "preference_b": round(wins["b"] / n, 6) if n
                            else None, "low": round(low, 6), "high": round(high, 6)})
    n = wins["a"] + wins["b"]
    low, high = wilson(wins["b"], n)
    return {**_diversity(pages), "pages_with_clicks": clicked_pages, "wins": wins, "ties": ties, "clicks_not_on_page": uncredited,
            "preference_b": round(wins["b"] / n, 6) if n else None, "low": round(low, 6), "high": round(high, 6),
            "p_value": round(sign_test_p(wins["b"], wins["a"]), 6)}, running


def _pct(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return "-"
    return f"{100 * r['rate']:.2f}% [{100 * r['low']:.2f}, {100 * r['high']:.2f}]"


def text(out: dict[str, Any]) -> str:
    """The report as lines a person reads."""
    lines = [f"experiment {out['experiment']} ({out['method']}): {out['pages']} pages, {out['events_read']} events read, "
             f"{out['events_on_pages']} on its pages, {out.get('events_unknown_query', 0)} with a query id no decision "
             "record holds"]
    if out["method"] == "ab":
        lines.append(f"{'':14}{'arm a':>32}{'arm b':>32}{'b - a':>10}{'p':>8}")
        arms, diff = out["arms"], out["difference"]
        lines.append(f"{'pages':14}{arms['a']['pages']:>32}{arms['b']['pages']:>32}")
        for a in ACTIONS:
            d = diff[a]["b_minus_a"]
            lines.append(f"{a:14}{_pct(arms['a'][a]):>32}{_pct(arms['b'][a]):>32}"
                         f"{'-' if d is None else f'{100 * d:+.2f}%':>10}{diff[a]['p_value']:>8.3f}")
        for key in ("constraint_satisfaction", "dedup_collapsed"):
            va, vb = arms["a"][key], arms["b"][key]
            lines.append(f"{key:14}{'-' if va is None else f'{va:.3f}':>32}{'-' if vb is None else f'{vb:.3f}':>32}")
    else:
        r = out["interleaving"]
        share = "-" if r["preference_b"] is None else (f"{100 * r['preference_b']:.1f}% [{100 * r['low']:.1f}, "
                                                      f"{100 * r['high']:.1f}]")
        lines.append(f"pages with clicks {r['pages_with_clicks']}: prefer a {r['wins']['a']}, prefer b "
                     f"{r['wins']['b']}, ties {r['ties']}")
        lines.append(f"share preferring b: {share}; sign test p = {r['p_value']:.4f}")
        lines.append(f"constraint satisfaction {r['constraint_satisfaction']}, near-duplicates collapsed per page "
                     f"{r['dedup_collapsed']}")
    return "\n".join(lines)
