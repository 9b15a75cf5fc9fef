"""A folder, walked recursively, with include/exclude globs on the relative path.

Globs use fnmatch on the POSIX relative path, where `*` also crosses folders: `*.md` matches
`a/b/c.md`; `drafts/*` excludes everything under drafts/.
"""

from __future__ import annotations

import fnmatch
import stat
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

from lockgate.ingest.bounded import LimitExceeded, NotRegularFile, read_file
from lockgate.ingest.pipeline import iter_files
from lockgate.ingest.quality import declared_for
from lockgate.ingest.sources import Item, Refused, SourceError

_DEFAULT_MAX_BYTES = 100 * 1024 * 1024


def matches(rel: str, include: Iterable[str], exclude: Iterable[str]) -> bool:
    inc = list(include)
    if inc and not any(fnmatch.fnmatchcase(rel, g) for g in inc):
        return False
    return not any(fnmatch.fnmatchcase(rel, g) for g in exclude)


class FolderConnector:
    kind = "folder"

    def __init__(
        self,
        root: str,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        follow_symlinks: bool = False,
        skip: Iterable[Path] = (),
        max_bytes: int = _DEFAULT_MAX_BYTES,
    ) -> None:
        self.root = Path(root).resolve()
        self.include, self.exclude = list(include), list(exclude)
        self.follow_symlinks = follow_symlinks
        self.skip = list(skip)
        self.max_bytes = max_bytes

    def prefix(self) -> str:
        return str(self.root)

    def paths(self) -> list[Path]:
        if not self.root.exists():
            raise SourceError(f"no such file or folder: {self.root}")
        base = self.root if self.root.is_dir() else self.root.parent
        out = []
        for path in iter_files([self.root], self.follow_symlinks, self.skip):
            if matches(path.relative_to(base).as_posix(), self.include, self.exclude):
                out.append(path)
        return out

    def items(self) -> Iterator[Item]:
        for path in self.paths():
            try:
                info = path.stat()
                mtime, regular = info.st_mtime, stat.S_ISREG(info.st_mode)
            except OSError:
                mtime, regular = 0.0, True  # the read reports why it cannot be read
            yield Item(
                key=str(path),
                name=path.name,
                # A FIFO, socket or device is never opened: reading one can block forever.
                fetch=partial(self.read, path) if regular else partial(_not_a_file, path),
                mtime=mtime,
                declared=partial(declared_for, path),
            )

    def read(self, path: Path) -> bytes:
        try:
            return read_file(path, self.max_bytes)
        except NotRegularFile as exc:
            raise Refused(str(exc), "not_a_file") from exc
        except LimitExceeded as exc:
            raise Refused(str(exc), "too_large") from exc


def _not_a_file(path: Path) -> bytes:
    raise Refused(f"{path.name}: not a regular file", "not_a_file")
