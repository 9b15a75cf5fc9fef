"""Tools the gateway's operators know about, and which of them act on the world.

    tools:
      declared:
        - {name: get_weather, side_effects: false, description: "reads a forecast"}
        - {name: send_email, side_effects: true}
      undeclared: allow      # or `approve`: a call to a tool not declared here needs approval

A model's call to a tool with `side_effects: true` is not returned to the caller until an
approval provider approves it (engine/stages/tool_gate.py); with no provider configured, the
gateway refuses such calls. Tools are still defined by each request (`tools`); a declaration
here only says how calls to that name are treated."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lockgate.config._base import Strict


class DeclaredTool(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Declared but not said: treated as acting on the world, the side that fails closed.
    side_effects: bool = True
    description: str = ""


class ToolsConfig(Strict):
    declared: list[DeclaredTool] = Field(default_factory=list)
    undeclared: Literal["allow", "approve"] = "allow"

    @field_validator("declared")
    @classmethod
    def _unique(cls, tools: list[DeclaredTool]) -> list[DeclaredTool]:
        seen: set[str] = set()
        for tool in tools:
            if tool.name in seen:
                raise ValueError(f"tool '{tool.name}' is declared twice")
            seen.add(tool.name)
        return tools

    def needs_approval(self, name: str) -> bool:
        for tool in self.declared:
            if tool.name == name:
                return tool.side_effects
        return self.undeclared == "approve"

    @property
    def gated(self) -> bool:
        """Whether any call could need approval: if not, the tool gate has nothing to do."""
        return self.undeclared == "approve" or any(t.side_effects for t in self.declared)
