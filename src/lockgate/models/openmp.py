"""One process-wide OpenMP policy for the two libraries that share one OpenMP runtime here:
torch (the MiniLM embedder) and llama.cpp (the embedded LLM). Both load `libgomp.so.1`, and
the dynamic linker gives them the same copy, so its settings are read once, at load.

- Waiting threads spin briefly (`GOMP_SPINCOUNT`, unless the environment sets it or
  `OMP_WAIT_POLICY`), then sleep. Never spinning (passive) made each of llama.cpp's
  per-layer barriers a sleep and a wake-up: decoding fell from ~38 to ~17 tokens/s on a
  2-core box. Spinning without bound holds a core another job needs when the box is shared.
- libgomp cuts spinning to ~100 iterations once the threads it manages outnumber the CPUs.
  A torch thread team and llama.cpp's team together (2 + 2 on 2 cores) do, and llama.cpp
  decoded at ~19 tokens/s instead of ~33. So a process that builds a local llama.cpp model
  keeps torch on one thread (`reserve_for_generation`); torch must not have run a parallel
  operation before then, since libgomp keeps a team's threads for the process's life.

Import this module before torch or llama_cpp is imported."""

from __future__ import annotations

import os
import threading

# ~0.3-1 ms of spinning: long enough for llama.cpp's barriers between ops of one token,
# short enough to give a shared core back (bench/bench_llm_threads.py).
SPIN_COUNT = "10000"

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)

_lock = threading.Lock()
_torch_cap: int | None = None


def reserve_for_generation() -> None:
    """A local LLM runs in this process: torch keeps to one thread from now on."""
    global _torch_cap
    with _lock:
        _torch_cap = 1


def torch_threads(wanted: int) -> int:
    """The intra-op threads torch may use for a call that would like `wanted`."""
    cap = _torch_cap
    return wanted if cap is None else max(1, min(wanted, cap))


def reset() -> None:
    """Forget the reservation (tests)."""
    global _torch_cap
    with _lock:
        _torch_cap = None
