"""Versioned prompt templates. A template is a file `NAME.vN.txt`; a trace records the name and
version used, so an answer can always be tied to the exact prompt that produced it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_FILE = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)\.txt$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    def render(self, **values: str) -> str:
        # One pass over the template, never over the values: a value filled in earlier would
        # otherwise be searched for the later placeholders, and a document quoting
        # "{canary}" would copy the secret canary into the sources. (Not str.format either:
        # document text is full of braces.)
        def fill(m: re.Match[str]) -> str:
            return values.get(m.group(1), m.group(0))

        return _PLACEHOLDER.sub(fill, self.text)


class PromptRegistry:
    def __init__(self, extra_dirs: list[Path] | None = None) -> None:
        self._templates: dict[tuple[str, int], PromptTemplate] = {}
        self._load(Path(str(resources.files("lockgate.prompts").joinpath("templates"))))
        for d in extra_dirs or []:
            self._load(d)

    def _load(self, folder: Path) -> None:
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            m = _FILE.match(path.name)
            if m:
                t = PromptTemplate(m["name"], int(m["version"]), path.read_text(encoding="utf-8"))
                self._templates[(t.name, t.version)] = t

    def get(self, name: str, version: int | None = None) -> PromptTemplate:
        if version is not None:
            try:
                return self._templates[(name, version)]
            except KeyError:
                raise KeyError(f"prompt '{name}' has no version {version}") from None
        versions = [t for (n, _), t in self._templates.items() if n == name]
        if not versions:
            raise KeyError(f"no prompt named '{name}'")
        return max(versions, key=lambda t: t.version)

    def list(self) -> list[PromptTemplate]:
        return sorted(self._templates.values(), key=lambda t: (t.name, t.version))
