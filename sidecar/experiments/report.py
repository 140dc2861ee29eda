"""What an experiment's pages and the shoppers' events on them say, per arm (pure).

Two ways to the same report: ``summarize`` (``Tally``) over pages and events held in memory, the
plain one the tests hold the other to; and ``source.read_report``, which counts in OpenSearch the
verdicts ``settle`` stored with each event. Both judge an event with ``judge`` and turn their
counts into figures with ``ab_figures`` / ``interleave_figures`` and the running points here.

A *page* is one decision record of the experiment (one /search answered under it); an event
names its page by ``query_id`` (the page's signed ``request_id``) and its shopper by
``client_id``. An event is **credited** to its page only when everything it claims holds:

- ``forged``: the query id is not one the sidecar issued to that client (its signature,
  ``identity.PageSigner.verify``, does not hold);
- ``other_client``: the id is a real page's, issued to another client;
- ``unknown_page``: the id is genuine, but no decision record holds the page (the log sampled
  or dropped it, or it is older than the report's window);
- ``not_on_page``: the object was not on that page, or not at the position the event names;
- ``repeat``: the same (page, object, action) was already credited.

Each refused event is counted under its reason (``refused``), so a merchandiser sees what was
refused. Events on genuine pages of other experiments (or of none) are ``elsewhere``: not this
report's.

Rates are per page: the share of pages with at least one credited event of that action (click,
add_to_cart, purchase), each with its Wilson 95% interval. For ``ab`` the arms' rates are compared
with a two-proportion z-test. For ``interleave`` each page with credited clicks credits each
clicked item to its team; the page prefers the team with more clicks, and the report gives the
share of preferring pages that prefer b, its Wilson interval and the exact sign test.

Memory: a ``Tally`` keeps a few numbers per page (its time, arm and outcome, for the running
estimate) and nothing per event. Limits, stated: pages are not independent when one shopper
makes many (the intervals are then too narrow); a client that holds real pages of its own can act
on them as it likes (docs/experiments.md).
"""
from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from .interleave import preference
from .stats import sign_test_p, two_proportion_p, wilson

ACTIONS = ("click", "add_to_cart", "purchase")
REASONS = ("forged", "other_client", "unknown_page", "not_on_page", "repeat")
ARMS = ("a", "b", "interleaved")
Verify = Callable[[Any, Any], bool]


def _rate(k: int, n: int) -> dict[str, Any]:
    low, high = wilson(k, n)
    return {"pages_with": k, "rate": round(k / n, 6) if n else None, "low": round(low, 6), "high": round(high, 6)}


def object_of(event: dict[str, Any]) -> str | None:
    return ((event.get("event_attributes") or {}).get("object") or {}).get("object_id")


def ordinal_of(event: dict[str, Any]) -> Any:
    return ((event.get("event_attributes") or {}).get("position") or {}).get("ordinal")


def epoch(stamp: Any) -> float:
    """An ISO 8601 time as epoch seconds (without an offset: UTC); 0.0 when it is none."""
    try:
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def stamp(seconds: float) -> str | None:
    """Epoch seconds as the report writes a time (None for 0.0: no time)."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else None


class Tally:
    """One experiment's report, built group by group: ``add(query_id, events, page, owner)``
    for each query id read (its events, its page if it is one of this experiment's, and the
    client of any decision record holding it), and ``add(qid, [], page, ...)`` for each page
    without events. ``result()`` gives the report."""

    def __init__(self, name: str, verify: Verify, points: int = 100):
        self.name, self.verify, self.points = name, verify, points
        self.refused: Counter[str] = Counter()
        self.read = self.credited = self.elsewhere = 0
        self.interleaved = False
        # per page, in the order read: time, arm, and what was credited on it
        self.times = array("d")
        self.arms = array("b")
        self.acted = array("b")  # a bit per action of ACTIONS
        self.sides = array("b")  # interleaving: -1 no click, 0 tie, 1 prefers a, 2 prefers b
        self.not_on_page_clicks = 0
        self.sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0.0])  # arm: [sat sum, sat n, dedup sum]

    def add(self, query_id: str, events: list[dict[str, Any]], page: dict[str, Any] | None,
            owner: str | None | bool) -> None:
        """``page``: this experiment's record of ``query_id`` (None: not one of its pages);
        ``owner``: the client_id of any decision record holding it, or False when none does."""
        clicks: set[str] = set()
        acted = 0
        seen: set[tuple[Any, str]] = set()
        for event in events:
            self.read += 1
            obj, action = object_of(event), event.get("action_name")
            verdict = judge(self.verify, query_id, event.get("client_id"), owner, page, obj, ordinal_of(event))
            if verdict == "elsewhere":
                self.elsewhere += 1
                continue
            if verdict != "on_page":
                self.refused[verdict] += 1
                self.not_on_page_clicks += verdict == "not_on_page" and action == "click"
                continue
            if (obj, action) in seen:
                self.refused["repeat"] += 1
                continue
            seen.add((obj, action))
            self.credited += 1
            if action in ACTIONS:
                acted |= 1 << ACTIONS.index(action)
            if action == "click":
                clicks.add(obj)
        if page is not None:
            self._page(page, acted, clicks)

    def _page(self, page: dict[str, Any], acted: int, clicks: set[str]) -> None:
        arm = page.get("arm")
        self.interleaved |= arm == "interleaved"
        self.times.append(epoch(page.get("@timestamp")))
        self.arms.append(ARMS.index(arm) if arm in ARMS else -1)
        self.acted.append(acted)
        side = -1
        if clicks:
            won = preference(page.get("teams") or [], [doc_id in clicks for doc_id in page.get("ids_after") or []])
            side = 0 if won is None else (1 if won == "a" else 2)
        self.sides.append(side)
        sums = self.sums[arm]
        if page.get("constraint_satisfaction") is not None:
            sums[0] += page["constraint_satisfaction"]
            sums[1] += 1
        sums[2] += page.get("dedup_collapsed") or 0

    def result(self) -> dict[str, Any]:
        order = sorted(range(len(self.times)), key=self.times.__getitem__)
        out: dict[str, Any] = {"experiment": self.name, "method": "interleave" if self.interleaved else "ab",
                               "pages": len(order), "events_read": self.read, "events_on_pages": self.credited,
                               "events_elsewhere": self.elsewhere, "refused": {r: self.refused[r] for r in REASONS}}
        if self.interleaved:
            out["interleaving"], out["running"] = self._interleaving(order)
        else:
            out["arms"], out["difference"], out["running"] = self._ab(order)
        return out

    def _diversity(self, arm: str, pages: int) -> dict[str, float | None]:
        sat, n, dedup = self.sums[arm] if arm in self.sums else (0.0, 0, 0.0)
        return diversity(sat, n, dedup, pages)

    def _ab(self, order: list[int]) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        pages, acted, div = {}, {}, {}
        for code, arm in enumerate(("a", "b")):
            mine = [i for i in order if self.arms[i] == code]
            pages[arm] = len(mine)
            acted[arm] = {a: sum(1 for i in mine if self.acted[i] >> k & 1) for k, a in enumerate(ACTIONS)}
            div[arm] = self._diversity(arm, len(mine))
        arms, difference = ab_figures(pages, acted, div)
        running, seen = [], [[0, 0], [0, 0]]
        step = max(1, len(order) // self.points)
        for n, i in enumerate(order, 1):
            if self.arms[i] in (0, 1):
                seen[self.arms[i]][0] += 1
                seen[self.arms[i]][1] += self.acted[i] & 1
            if n % step == 0 or n == len(order):
                running.append(ab_point(stamp(self.times[i]), n, seen))
        return arms, difference, running

    def _interleaving(self, order: list[int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        wins = {"a": 0, "b": 0}
        ties = clicked = 0
        running = []
        step = max(1, len(order) // self.points)
        for n, i in enumerate(order, 1):
            side = self.sides[i]
            if side >= 0:
                clicked += 1
                if side == 0:
                    ties += 1
                else:
                    wins["a" if side == 1 else "b"] += 1
            if n % step == 0 or n == len(order):
                running.append(preference_point(stamp(self.times[i]), n, wins))
        return interleave_figures(wins, ties, clicked, self.not_on_page_clicks,
                                  self._diversity("interleaved", len(order))), running


def ab_point(t: str | None, pages: int, seen: list[list[int]]) -> dict[str, Any]:
    """A point of an A/B's running estimate: each arm's click rate over its first pages
    (``seen``: [pages, pages with a click] of a and of b) when ``pages`` pages are in."""
    (na, ka), (nb, kb) = seen
    return {"t": t, "pages": pages, "a": round(ka / na, 6) if na else None, "b": round(kb / nb, 6) if nb else None}


def preference_point(t: str | None, pages: int, wins: dict[str, int]) -> dict[str, Any]:
    """A point of an interleaving's running estimate: the share of preferring pages that prefer b."""
    k = wins["a"] + wins["b"]
    low, high = wilson(wins["b"], k)
    return {"t": t, "pages": pages, "preference_b": round(wins["b"] / k, 6) if k else None, "low": round(low, 6),
            "high": round(high, 6)}


def diversity(sat_sum: float, sat_n: int, dedup_sum: float, pages: int) -> dict[str, float | None]:
    """An arm's mean constraint satisfaction (over its pages that have one) and near-duplicates
    collapsed per page."""
    return {"constraint_satisfaction": round(sat_sum / sat_n, 6) if sat_n else None,
            "dedup_collapsed": round(dedup_sum / pages, 6) if pages else None}


def ab_figures(pages: dict[str, int], acted: dict[str, dict[str, int]], div: dict[str, dict[str, Any]]
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """An A/B's arms and the difference b - a per action, from each arm's pages and its pages with
    at least one credited event of each action."""
    arms = {arm: {"pages": pages[arm], **{a: _rate(acted[arm][a], pages[arm]) for a in ACTIONS}, **div[arm]}
            for arm in ("a", "b")}
    difference = {}
    for a in ACTIONS:
        ka, na, kb, nb = acted["a"][a], pages["a"], acted["b"][a], pages["b"]
        difference[a] = {"b_minus_a": round(kb / nb - ka / na, 6) if na and nb else None,
                         "p_value": round(two_proportion_p(ka, na, kb, nb), 6)}
    return arms, difference


def interleave_figures(wins: dict[str, int], ties: int, clicked: int, not_on_page_clicks: int,
                       div: dict[str, Any]) -> dict[str, Any]:
    """An interleaving's preference from the pages preferring each side and the ties."""
    k = wins["a"] + wins["b"]
    low, high = wilson(wins["b"], k)
    return {**div, "pages_with_clicks": clicked, "wins": wins, "ties": ties, "clicks_not_on_page": not_on_page_clicks,
            "preference_b": round(wins["b"] / k, 6) if k else None, "low": round(low, 6), "high": round(high, 6),
            "p_value": round(sign_test_p(wins["b"], wins["a"]), 6)}


def judge(verify: Verify, query_id: Any, client: Any, owner: str | None | bool, page: dict[str, Any] | None,
          obj: Any, ordinal: Any) -> str:
    """What one event on ``query_id`` is, before repeats are looked at: ``forged``,
    ``other_client``, ``unknown_page``, ``elsewhere`` (a genuine page, but ``page`` is None: not
    one the caller counts), ``not_on_page``, or ``on_page``. ``owner``: the client of the decision
    record holding the id, or False when none does; ``page``: that record when it counts."""
    if not verify(query_id, client):
        return "other_client" if owner is not False and owner != client else "forged"
    if owner is False:
        return "unknown_page"
    if page is None:
        return "elsewhere"
    return "on_page" if _on_page(page, obj, ordinal) else "not_on_page"


def _on_page(page: dict[str, Any], obj: Any, ordinal: Any) -> bool:
    """The object was on the page (at the rank ``ordinal`` names, when it names one)."""
    ids = page.get("ids_after") or []
    if obj not in ids:
        return False
    if ordinal is None:
        return True
    first = (page.get("from") or 0) + 1
    return isinstance(ordinal, int) and 0 <= ordinal - first < len(ids) and ids[ordinal - first] == obj


def summarize(name: str, records: list[dict[str, Any]], events: Iterable[dict[str, Any]], verify: Verify,
              points: int = 100) -> dict[str, Any]:
    """The report of experiment ``name`` from decision records and events held in memory (the
    records of any experiment or none: those of others only say a page exists)."""
    by_id = {r["request_id"]: r for r in records if r.get("request_id")}
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        grouped[str(event.get("query_id"))].append(event)
    tally = Tally(name, verify, points)
    for qid in sorted(set(grouped) | {k for k, r in by_id.items() if r.get("experiment") == name}):
        record = by_id.get(qid)
        page = record if record is not None and record.get("experiment") == name else None
        tally.add(qid, grouped.get(qid, []), page, record.get("client_id") if record is not None else False)
    return tally.result()


def _pct(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return "-"
    return f"{100 * r['rate']:.2f}% [{100 * r['low']:.2f}, {100 * r['high']:.2f}]"


def refused_line(out: dict[str, Any]) -> str:
    refused = out.get("refused") or {}
    return (f"{sum(refused.values())} events refused: " +
            ", ".join(f"{reason.replace('_', ' ')} {refused.get(reason, 0)}" for reason in REASONS))


def text(out: dict[str, Any]) -> str:
    """The report as lines a person reads."""
    lines = [f"experiment {out['experiment']} ({out['method']}): {out['pages']} pages, {out['events_read']} events "
             f"read, {out['events_on_pages']} credited to its pages, {out.get('events_elsewhere', 0)} on other pages",
             refused_line(out)]
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
