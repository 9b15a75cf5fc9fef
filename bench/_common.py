"""Helpers shared by the benchmark scripts: temporary homes, percentiles, tables, JSON output.

Every benchmark runs against a throw-away LOCKGATE_HOME so it never touches a real store.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SAMPLES = ROOT / "samples"

# Scripts are run as `python bench/x.py`: make both `lockgate` (src) and `tests.support`
# importable without installing anything else.
for _p in (str(ROOT / "src"), str(ROOT), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# The box is shared: record how busy it was when the benchmark started and ended.
_LOAD_AT_START = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# The code a benchmark ran is the code at start-up (others may commit while it runs).
_GIT_AT_START = _git("rev-parse", "--short", "HEAD")


@contextlib.contextmanager
def temp_home(prefix: str = "lockgate-bench-", keep: bool = False) -> Iterator[Path]:
    """A fresh directory exported as LOCKGATE_HOME for the duration of the block."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    old = os.environ.get("LOCKGATE_HOME")
    os.environ["LOCKGATE_HOME"] = str(path / "home")
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("LOCKGATE_HOME", None)
        else:
            os.environ["LOCKGATE_HOME"] = old
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds from seconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 3),
        "p95_ms": round(pct(ms, 95), 3),
        "p99_ms": round(pct(ms, 99), 3),
        "max_ms": round(max(ms), 3) if ms else float("nan"),
        "mean_ms": round(sum(ms) / len(ms), 3) if ms else float("nan"),
    }


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    info["loadavg_1_5_15_at_start"] = _LOAD_AT_START
    with contextlib.suppress(OSError, AttributeError):
        info["loadavg_1_5_15_at_end"] = [round(x, 2) for x in os.getloadavg()]
    info["git_head_at_start"] = _GIT_AT_START
    info["git_head"] = _git("rev-parse", "--short", "HEAD")
    info["git_dirty_files"] = len(_git("status", "--porcelain", "--untracked-files=no")
                                  .splitlines())
    names = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    info["env"] = {k: os.environ[k] for k in names if k in os.environ}
    return info


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                    for i, (h, w) in enumerate(zip(headers, widths, strict=True))))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def write_json(path: str | os.PathLike[str] | None, data: dict[str, Any]) -> None:
    if not path:
        return
    payload = {"machine": machine(), "written_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **data}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nwrote {path}")


class Stopwatch:
    """Accumulates wall time per label; use as `with sw("embed"): ...`."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextlib.contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.totals[label] = self.totals.get(label, 0.0) + time.perf_counter() - t0
            self.calls[label] = self.calls.get(label, 0) + 1


def rates(pairs: list[tuple[bool, bool]]) -> dict[str, float]:
    """(flagged, truly positive) pairs -> n, precision, recall, F1 and false-positive rate."""
    tp = sum(1 for f, y in pairs if f and y)
    fp = sum(1 for f, y in pairs if f and not y)
    fn = sum(1 for f, y in pairs if not f and y)
    tn = sum(1 for f, y in pairs if not f and not y)
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    return {
        "n": len(pairs),
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if tp else 0.0,
        "fpr": round(fp / (fp + tn), 4) if fp + tn else float("nan"),
    }
