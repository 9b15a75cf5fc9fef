"""The grounding bench for two versions of the scanner, side by side in one run.

    .venv/bin/python bench/guardrails/compare_grounding.py --base /tmp/wt-base [--rounds 3]

`--base` is the root of another checkout (e.g. ``git worktree add /tmp/wt-base main``). Each
version runs its own `bench/guardrails/bench_grounding.py` in a child process with its own
``src`` first on ``sys.path`` (the child reports which scanner module it ran). Reported:
recall and pass rate (supported claims let through) per split and mode, correct decisions by
kind, and scan latency."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import ROOT, print_table  # noqa: E402

_CHILD = """
import runpy, sys
script, out, rounds, *extra = sys.argv[1:]
sys.argv = [script, "--rounds", rounds, "--json", out, *extra]
runpy.run_path(script, run_name="__main__")
import lockgate.guardrails.scanners.grounding as g
print(g.__file__, file=sys.stderr)
"""


def run(root: Path, rounds: int, extra: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """One version's bench report, and the scanner module it ran."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    script = root / "bench" / "guardrails" / "bench_grounding.py"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        argv = [sys.executable, "-c", _CHILD, str(script), str(out), str(rounds), *(extra or [])]
        done = subprocess.run(argv,
                              env=env, cwd=root, check=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        where = done.stderr.strip().splitlines()[-1]
        if not Path(where).resolve().is_relative_to(root.resolve()):
            raise SystemExit(f"{root}: the child ran the scanner from {where}")
        return json.loads(out.read_text()), where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", type=Path, required=True, help="root of the other checkout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--decision", default=None, choices=["model", "formula"],
                    help="this checkout's scanner `decision` (the base runs its defaults)")
    args = ap.parse_args()
    base, base_at = run(args.base, args.rounds)
    here, here_at = run(ROOT, args.rounds, ["--decision", args.decision] if args.decision else [])
    print(f"base: {base_at}\nthis: {here_at}")
    rows = []
    for key, b in base["accuracy"].items():
        h = here["accuracy"][key]
        split, mode = key.split("/")
        rows.append([split, mode, b["n"], b["recall"], h["recall"], b["pass_supported"],
                     h["pass_supported"]])
    print_table("Grounding: unsupported claim = positive",
                ["split", "mode", "n", "recall base", "recall this", "pass base", "pass this"],
                rows)
    print_table("Uncited, correct decisions by kind (all splits)",
                ["kind", "n", "base", "this"],
                [[k, v["n"], v["correct"], here["by_kind"][k]["correct"]]
                 for k, v in base["by_kind"].items()])
    if base.get("latency"):
        print_table("Latency of scan(), ms", ["case", "n", "p50 base", "p50 this", "p95 base",
                                              "p95 this"],
                    [[k, v["n"], v["p50_ms"], here["latency"][k]["p50_ms"], v["p95_ms"],
                      here["latency"][k]["p95_ms"]] for k, v in base["latency"].items()])


if __name__ == "__main__":
    main()
