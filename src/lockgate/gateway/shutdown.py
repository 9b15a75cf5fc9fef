"""How a gateway process stops: SIGTERM is the normal end of a replica (Kubernetes, compose,
systemd), not a failure.

uvicorn drains on SIGTERM or SIGINT: it closes its listening sockets, lets the requests in
flight finish for at most `server.shutdown_grace_s` (`timeout_graceful_shutdown`), cancels
what is left, and runs the lifespan's shutdown (the event writer's flush). Then it raises the
signal again with the handlers that were there before it started, so that by default the
process dies of it (exit 143) after a clean stop. `exit_zero_on_stop` puts a SIGTERM
handler there that exits 0 instead; a SIGTERM that comes before uvicorn serves ends the
process the same way, with nothing to drain. SIGINT (Ctrl+C) keeps uvicorn's behaviour.

With `--workers N` the supervisor (gateway/workers.py) forwards the signal to each worker,
which drains the same way, and exits 0 once they have."""

from __future__ import annotations

import signal
from types import FrameType


def _exit_zero(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def exit_zero_on_stop() -> None:
    signal.signal(signal.SIGTERM, _exit_zero)
