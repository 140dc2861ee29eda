"""Make demo/catalog.jsonl + demo/vectors.npy: every 30th product of the fashion catalog.

    python scripts/make_demo_catalog.py [--fashion ../shared/data/fashion] [--every 30]

The demo ships with the repository so that `scripts/demo.sh` works on a fresh machine without
../shared; this script documents exactly how it was cut (real Myntra titles and metadata; seller,
condition, price and listed_at are synthetic, as in the source's README).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--every", type=int, default=30)
    ap.add_argument("--out", type=Path, default=ROOT / "demo")
    args = ap.parse_args()
    lines = (args.fashion / "catalog.jsonl").read_text(encoding="utf-8").splitlines()
    vecs = np.load(args.fashion / "vectors-minilm.f16.npy")
    keep = list(range(0, len(lines), args.every))
    args.out.mkdir(exist_ok=True)
    (args.out / "catalog.jsonl").write_text("\n".join(lines[i] for i in keep) + "\n", encoding="utf-8")
    np.save(args.out / "vectors.npy", vecs[keep].astype(np.float16))
    print(f"{len(keep)} products -> {args.out}")


if __name__ == "__main__":
    main()
