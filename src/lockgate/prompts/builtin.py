"""The packaged prompts as registry specs: each one's version 1 when a store is first used.

Two sources. The packaged `NAME.vN.txt` files: the newest one (what the gateway answered with
before the registry) is turned into a Jinja template whose rendering is identical, so answer
quality does not move when a store is first given a registry. And the packaged YAML specs in
`prompts/packaged/` (the evaluation judge's prompt), already in the registry's file format."""

from __future__ import annotations

import re
from importlib import resources

from lockgate.prompts.registry import PromptRegistry, PromptTemplate
from lockgate.prompts.spec import PromptSpec, check, parse_spec

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Jinja's own delimiters in the old text would be read as template syntax.
_JINJA = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")


def from_legacy(template: PromptTemplate) -> PromptSpec:
    """A legacy `{placeholder}` template as an equivalent registry spec."""
    if _JINJA.search(template.text):
        raise ValueError(f"{template.id} holds Jinja delimiters and cannot be converted as is")
    variables = sorted(set(_PLACEHOLDER.findall(template.text)))
    text = _PLACEHOLDER.sub(lambda m: "{{ " + m.group(1) + " }}", template.text)
    spec = PromptSpec(
        name=template.name,
        template=text,
        variables=variables,
        description=f"The built-in grounded answer prompt (packaged {template.id}).",
    )
    return check(spec, template.id)


def packaged_yaml_specs() -> list[PromptSpec]:
    folder = resources.files("lockgate.prompts").joinpath("packaged")
    specs = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            specs.append(parse_spec(entry.read_text(encoding="utf-8"), f"packaged/{entry.name}"))
    return specs


def builtin_specs() -> list[PromptSpec]:
    """One spec per packaged prompt name: the newest legacy template of each name, then the
    packaged YAML specs."""
    packaged = PromptRegistry()
    names = sorted({t.name for t in packaged.list()})
    return [*(from_legacy(packaged.get(name)) for name in names), *packaged_yaml_specs()]
