"""/search on the demo catalog answers as recorded (scripts/search_cases.py): every mode, the
shipped rules and none, pages 1 to 3, explanations, facets with selections, overrides, ``like``.
A restructuring that should change nothing is seen to change nothing; a deliberate change of
behaviour is recorded again (``.venv/bin/python scripts/search_cases.py --write``) and its diff
read. The behaviour itself is tested where it is defined (paging, facets, fusion, the core)."""
from __future__ import annotations

import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import search_cases  # noqa: E402

GOLDEN = json.loads((ROOT / "tests" / "data" / "search_cases.json").read_text())


def test_the_requests_are_the_recorded_ones():
    assert [c["request"] for c in GOLDEN] == json.loads(json.dumps(search_cases.requests()))


def test_every_request_is_answered_as_recorded():
    now = search_cases.record()
    changed = [f"{json.dumps(c['request'])}: recorded {json.dumps(c['response'])[:300]}\n  now {json.dumps(n['response'])[:300]}"
               for c, n in zip(GOLDEN, now) if c["response"] != n["response"]]
    assert not changed, f"{len(changed)} of {len(GOLDEN)} answers changed:\n" + "\n".join(changed[:5])
    assert not any("error" in c["response"] for c in GOLDEN)
