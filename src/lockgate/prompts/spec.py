"""A registry prompt as its YAML file describes it: a name, a Jinja template, the variables
it declares, optional model parameters and a description.

A spec is checked when it is read, not when a turn renders it: the template must compile in
the sandbox and use exactly the variables it declares, so a typo in a variable name fails
`lockgate prompts push` instead of a caller's request."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SUFFIXES = (".yaml", ".yml")


class PromptSpecError(ValueError):
    """A prompt file that cannot be stored; the message names the file and the field."""


def environment() -> SandboxedEnvironment:
    # Sandboxed: a prompt file is data from a repository, and must not reach Python objects.
    # StrictUndefined: a missing value is an error, never an empty string in the prompt.
    # keep_trailing_newline: the rendered text is byte-for-byte the template's.
    return SandboxedEnvironment(
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )


_ENV = environment()


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(None, min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: list[str] | None = Field(None, max_length=4)


class PromptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    template: str = Field(min_length=1)
    variables: list[str] = Field(default_factory=list)
    model: ModelParams | None = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("must match [a-z0-9][a-z0-9_.-]* (lower case, no '@')")
        return value

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a variable twice")
        return value

    def canonical(self) -> str:
        """The content that is hashed and stored: key order, YAML style and absent optional
        fields do not make a new version; variable order does not either."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["variables"] = sorted(self.variables)
        if self.model is not None:
            data["model"] = self.model.model_dump(mode="json", exclude_none=True)
            if not data["model"]:
                del data["model"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()

    def to_yaml(self) -> str:
        """The spec as a YAML file, the template as a literal block: what `show` prints and
        `diff` compares."""
        data: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            data["description"] = self.description
        data["variables"] = sorted(self.variables)
        if self.model is not None:
            params = self.model.model_dump(mode="json", exclude_none=True)
            if params:
                data["model"] = params
        data["template"] = self.template
        return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True)

    def render(self, **values: str) -> str:
        """The template filled with `values`, which must cover every declared variable. A
        value is inserted as text and never parsed as a template: a document quoting
        `{{ canary }}` stays those characters."""
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise PromptSpecError(f"prompt '{self.name}' needs values for {', '.join(missing)}")
        return _compiled(self.template).render({k: values[k] for k in self.variables})


@functools.lru_cache(maxsize=256)
def _compiled(template: str) -> Template:
    # Compiling costs ~0.3 ms, rendering a few µs: a turn must not pay the compile.
    return _ENV.from_string(template)


class _BlockDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text as a `|` block, so a diff of two versions reads line by line. PyYAML
    # cannot write a block whose lines end in spaces; those stay quoted.
    style = "|" if "\n" in value and not re.search(r" \n| $", value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def template_variables(template: str) -> set[str]:
    """The variables a template reads (jinja2.meta); TemplateSyntaxError when it is not one."""
    return set(meta.find_undeclared_variables(_ENV.parse(template)))


def check(spec: PromptSpec, source: str = "") -> PromptSpec:
    where = f"{source}: " if source else ""
    try:
        used = template_variables(spec.template)
    except TemplateSyntaxError as exc:
        raise PromptSpecError(
            f"{where}template: {exc.message} (template line {exc.lineno})"
        ) from None
    declared = set(spec.variables)
    if used != declared:
        parts = []
        if used - declared:
            parts.append(f"used but not declared: {', '.join(sorted(used - declared))}")
        if declared - used:
            parts.append(f"declared but not used: {', '.join(sorted(declared - used))}")
        raise PromptSpecError(f"{where}variables: {'; '.join(parts)}")
    return spec


def parse_spec(text: str, source: str = "") -> PromptSpec:
    """A checked spec from the text of a YAML file; PromptSpecError naming what is wrong."""
    where = f"{source}: " if source else ""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PromptSpecError(f"{where}not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PromptSpecError(f"{where}a prompt file is a YAML mapping (name, template, ...)")
    try:
        spec = PromptSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise PromptSpecError(f"{where}{field}: {first['msg']}") from None
    return check(spec, source)


def spec_of(content: str) -> PromptSpec:
    """A spec from the canonical JSON the registry stores (already checked when pushed)."""
    return PromptSpec.model_validate(json.loads(content))


def load_specs(path: Path) -> list[tuple[Path, PromptSpec]]:
    """Every prompt file under `path` (a .yaml/.yml file, or a folder searched recursively),
    in path order; PromptSpecError when one is invalid or two share a name."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        if not files:
            raise PromptSpecError(f"{path}: no .yaml or .yml prompt files")
    else:
        raise PromptSpecError(f"{path}: no such file or folder")
    found: list[tuple[Path, PromptSpec]] = []
    seen: dict[str, Path] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptSpecError(f"{file}: cannot be read: {exc}") from None
        spec = parse_spec(text, str(file))
        if spec.name in seen:
            raise PromptSpecError(
                f"{file}: prompt '{spec.name}' is also defined in {seen[spec.name]}"
            )
        seen[spec.name] = file
        found.append((file, spec))
    return found


def parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """`name@label` or `name@N` -> (name, label, version); a bare name -> (name, None, None).
    ValueError saying the expected form."""
    name, sep, target = ref.partition("@")
    if not NAME.match(name) or (sep and not target):
        raise ValueError(f"'{ref}' is not a prompt reference: expected name@label or name@N")
    if not sep:
        return name, None, None
    if target.isdigit():
        version = int(target)
        if version < 1:
            raise ValueError(f"'{ref}': versions start at 1")
        return name, None, version
    if not LABEL.match(target):
        raise ValueError(f"'{ref}': label must match [a-z0-9][a-z0-9_-]*")
    return name, target, None
