"""Team-draft interleaving (Radlinski, Kurup & Joachims, 2008): one page from two rankings.

Each round a fair coin says which side picks first; then each side in turn adds its best item not
yet on the page. The items each side added are its team; a click on an item is credited to the
item's team, and the session prefers the side with more credited clicks. Guarantees: each
side's picks appear on the page in that side's own order; while both sides have items left, the
two teams differ in size by at most one after every pick and are equal after every round, and
which side leads a round is a fair coin (so neither is favoured by position on average); the
page holds no item twice.

One departure from the paper: the items both rankings hold at the same ranks from the top (their
common prefix) come first on the page whatever the coins say, so a click on one says nothing
about which ranking is better; crediting it to the team the coin gave it only adds noise. Such
items are marked ``"both"`` and credited to neither (the preference is unchanged in expectation
and its variance smaller: fewer sessions find the same difference).

``compatible(page, item)`` lets a caller keep the hard parts both sides agree on: an item it
refuses is passed over (the side picks its next). Passing over keeps the guarantees above, and
the page can end shorter than ``k`` when both sides run out of compatible items.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Interleaved:
    ids: list[str]
    teams: list[str]  # "a", "b", or "both" (the rankings' common prefix) per item of ``ids``


def team_draft(a: Sequence[str], b: Sequence[str], k: int, seed: int,
               compatible: Callable[[list[str], str], bool] | None = None) -> Interleaved:
    """The first ``k`` items of the team-draft interleaving of rankings ``a`` and ``b``; ``seed``
    fixes the coins (the same request gives the same page)."""
    coin = random.Random(seed)
    page: list[str] = []
    teams: list[str] = []
    on_page: set[str] = set()
    cursor = {"a": 0, "b": 0}
    ranking = {"a": a, "b": b}

    def pick(side: str) -> bool:
        items = ranking[side]
        i = cursor[side]
        while i < len(items):
            item = items[i]
            i += 1
            if item in on_page or (compatible is not None and not compatible(page, item)):
                continue
            cursor[side] = i
            page.append(item)
            teams.append(side)
            on_page.add(item)
            return True
        cursor[side] = i
        return False

    while len(page) < k:
        order = ("a", "b") if coin.random() < 0.5 else ("b", "a")
        added = False
        for side in order:
            if len(page) < k and pick(side):
                added = True
        if not added:
            break
    for i, item in enumerate(page):  # the common prefix: on the page at these ranks whatever the coins
        if i >= len(a) or i >= len(b) or not item == a[i] == b[i]:
            break
        teams[i] = "both"
    return Interleaved(page, teams)


def preference(teams: Sequence[str], clicked: Sequence[bool]) -> str | None:
    """The side a session prefers: more clicked items of its team; None on a tie (no clicks, or
    clicks only on items of both)."""
    a = sum(1 for t, c in zip(teams, clicked) if c and t == "a")
    b = sum(1 for t, c in zip(teams, clicked) if c and t == "b")
    return "a" if a > b else "b" if b > a else None
