"""`lockgate ingest --watch`: poll folder sources and re-sync the ones that changed.

Polling (a stat of every file each interval) works on every filesystem, network mounts and
containers included, where inotify does not; a change is synced once the folder has been
quiet for one interval, so a file being copied is not read half-written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from lockgate.config import SourceSpec
from lockgate.ingest.pipeline import IngestSummary
from lockgate.ingest.sources import SourceError
from lockgate.ingest.sources.folder import FolderConnector
from lockgate.ingest.sync import SourceSync

Snapshot = dict[str, tuple[int, int]]


def snapshot(sync: SourceSync, spec: SourceSpec) -> Snapshot:
    conn = sync.connector(spec)
    assert isinstance(conn, FolderConnector), "only folder sources are watched"
    out: Snapshot = {}
    try:
        paths = conn.paths()
    except SourceError:
        return out
    for path in paths:
        try:
            st = Path(path).stat()
        except OSError:
            continue
        out[str(path)] = (st.st_mtime_ns, st.st_size)
        side = Path(f"{path}.meta.yaml")
        if side.exists():
            out[str(side)] = (side.stat().st_mtime_ns, side.stat().st_size)
    return out


def watch(
    sync: SourceSync,
    specs: list[SourceSpec],
    interval_s: float,
    on_run: Callable[[IngestSummary], None],
    stop: threading.Event,
    prune: bool = True,
) -> None:
    """Sync everything once, then each folder source again whenever it changes."""
    folders = [s for s in specs if s.kind == "folder"]
    # Taken before the first sync: a file that changes while it runs is seen on the next poll
    # instead of becoming part of the baseline unsynced.
    last = {s.name: snapshot(sync, s) for s in folders}
    on_run(sync.run(specs, prune=prune))
    pending: set[str] = set()
    while not stop.wait(interval_s):
        due = []
        for spec in folders:
            now = snapshot(sync, spec)
            if now != last[spec.name]:
                pending.add(spec.name)  # still changing: wait for a quiet interval
            elif spec.name in pending:
                due.append(spec)
                pending.discard(spec.name)
            last[spec.name] = now
        if due:
            on_run(sync.run(due, prune=prune))
