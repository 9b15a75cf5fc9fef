"""May this request pick its own prompt? Checked on the request as parsed, before any stage:
`lockgate.prompt` is for callers whose roles grant `prompts:pin` (developers trying a staged
prompt), and only on the grounded model, the one that answers with a registry prompt. A
release that assigns its users a prompt sets `Turn.prompt_ref` later, in a stage, and is not
subject to this check: that choice is the operator's, not the caller's."""

from __future__ import annotations

from collections.abc import Callable

from lockgate.engine.errors import GatewayError
from lockgate.engine.turn import Turn

# The scope's name as lockgate.auth.scopes.PROMPTS_PIN spells it (auth imports the engine, so
# the engine cannot import auth; a test keeps the two equal).
PIN_SCOPE = "prompts:pin"
PARAM = "lockgate.prompt"


def check_pin(turn: Turn, allows: Callable[[tuple[str, ...], str], bool]) -> None:
    """GatewayError 400 for a pin on a pass-through model, 403 `insufficient_scope` when the
    caller's roles do not grant pinning; nothing when the request pins nothing."""
    if turn.prompt_ref is None:
        return
    if not turn.grounded:
        raise GatewayError(
            400,
            f"{PARAM} chooses the prompt of the grounded model 'lockgate'; model "
            f"'{turn.model_name}' answers the messages as sent",
            "invalid_value",
            PARAM,
        )
    if not allows(turn.principal.roles, PIN_SCOPE):
        raise GatewayError(
            403,
            f"{PARAM} needs the '{PIN_SCOPE}' scope, which your roles do not grant",
            "insufficient_scope",
            PARAM,
            type_="permission_error",
        )
