"""A folder, walked recursively, with include/exclude globs on the relative path.

Globs use fnmatch on the POSIX relative path, where `*` also crosses folders: `*.md` matches
`a/b/c.md`; `drafts/*` excludes everything under drafts/.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

from lockgate.ingest.pipeline import iter_files
from lockgate.ingest.quality import declared_for
from lockgate.ingest.sources import Item, SourceError


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
    ) -> None:
        self.root = Path(root).resolve()
        self.include, self.exclude = list(include), list(exclude)
        self.follow_symlinks = follow_symlinks
        self.skip = list(skip)

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
                mtime = path.stat().st_mtime
            except OSError:
                mtime = 0.0
            yield Item(
                key=str(path),
                name=path.name,
                fetch=path.read_bytes,
                mtime=mtime,
                declared=partial(declared_for, path),
            )
