"""The encoder's model runs off the worker's event loop, within the request's deadline
(``threads.Offloader``), checked in a gevent-patched child process as a gunicorn gevent worker is."""
from __future__ import annotations

import subprocess
import sys

CHILD = r"""
from gevent import monkey
monkey.patch_all()
import time, gevent
from sidecar.threads import Offloader

def busy(seconds):  # CPU work that releases the GIL, as onnxruntime's run does
    time.sleep(seconds)
    return "done"

pool = Offloader(1)
ticks = []
def ticker():
    for _ in range(20):
        ticks.append(time.monotonic())
        gevent.sleep(0.01)
t = gevent.spawn(ticker)
assert pool.run(busy, (0.05,), 1.0) == "done"
t0 = time.monotonic()
try:
    pool.run(busy, (0.5,), 0.1)
    raise SystemExit("no timeout")
except TimeoutError:
    waited = time.monotonic() - t0
assert waited < 0.3, waited
# a call queued behind the busy thread past its own deadline is refused in time, and skipped
t0 = time.monotonic()
try:
    pool.run(busy, (0.0,), 0.05)
    raise SystemExit("no timeout for the queued call")
except TimeoutError:
    assert time.monotonic() - t0 < 0.2
t.join()
gaps = [b - a for a, b in zip(ticks, ticks[1:])]
assert max(gaps) < 0.1, max(gaps)  # the event loop kept running while the model worked
print("ok", round(max(gaps), 3))
"""


def test_the_model_runs_beside_the_event_loop_within_a_deadline():
    res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("ok"), res.stdout + res.stderr
