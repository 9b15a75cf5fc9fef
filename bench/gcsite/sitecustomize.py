"""Loaded by a gateway that bench/bench_gc.py starts (this folder first on PYTHONPATH): the
garbage collector's own count and time of each generation's collections, written every
second to `$LOCKGATE_BENCH_GC_DIR/gc-<pid>.json` (CPU time by `time.thread_time`, so a busy
box does not inflate it). Nothing happens without that variable."""

from __future__ import annotations

import gc
import json
import os
import threading
import time

_OUT = os.environ.get("LOCKGATE_BENCH_GC_DIR")
_stats: dict[int, list[float]] = {g: [0, 0.0, 0.0] for g in range(3)}
_started: dict[int, tuple[float, float]] = {}


def _callback(phase: str, info: dict[str, int]) -> None:
    gen = info["generation"]
    if phase == "start":
        _started[gen] = (time.perf_counter(), time.thread_time())
        return
    began = _started.pop(gen, None)
    if began is not None:
        s = _stats[gen]
        s[0] += 1
        s[1] += time.perf_counter() - began[0]
        s[2] += time.thread_time() - began[1]


def _dump() -> None:
    path = os.path.join(_OUT or ".", f"gc-{os.getpid()}.json")
    while True:
        time.sleep(1)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"stats": _stats, "frozen": gc.get_freeze_count()}, fh)
        os.replace(tmp, path)


if _OUT:
    gc.callbacks.append(_callback)
    threading.Thread(target=_dump, name="bench-gc-dump", daemon=True).start()
