"""The packaged grounded-answer prompt as a registry spec: the seed of version 1.

The packaged `NAME.vN.txt` files stay the source: the newest one (what the gateway answered
with before the registry) is turned into a Jinja template whose rendering is identical, so
answer quality does not move when a store is first given a registry."""

from __future__ import annotations

import re

from lockgate.prompts.registry import PromptRegistry, PromptTemplate
from lockgate.prompts.spec import PromptSpec, check

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


def builtin_specs() -> list[PromptSpec]:
    """One spec per packaged prompt name, from its newest packaged version."""
    packaged = PromptRegistry()
    names = sorted({t.name for t in packaged.list()})
    return [from_legacy(packaged.get(name)) for name in names]
