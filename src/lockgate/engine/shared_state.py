"""The 503 a fail-closed mechanism answers while Redis is away: both the shared state's
own exception (what the stores raise and their callers may catch) and a GatewayError
(what every edge turns into an OpenAI-style error body)."""

from __future__ import annotations

from lockgate.engine.errors import GatewayError
from lockgate.sharedstate.client import SharedStateUnavailable, unavailable_message


# The shared state's exception first: its __init__ is not cooperative, GatewayError's is.
class SharedStateRefused(SharedStateUnavailable, GatewayError):
    def __init__(self, mechanism: str, retry_after_s: int) -> None:
        GatewayError.__init__(
            self,
            503,
            unavailable_message(mechanism),
            "shared_state_unavailable",
            headers={"retry-after": str(retry_after_s)},
        )
        self.mechanism = mechanism
        self.retry_after_s = retry_after_s
