"""OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with an HTTP status.
Raised anywhere below the edges (the engine, retrieval, stores); an edge turns one into its
own kind of reply. It imports nothing of Lockgate, so any package may raise one."""

from __future__ import annotations

from typing import Any

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "upstream_timeout",
}


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        detail: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        # Further fields of the error object, for errors that carry a handle the caller
        # acts on (the id of a pending review); most errors have none.
        self.extra = extra
        # Recorded in the trace, never sent to the caller.
        self.detail = detail
        # Extra response headers, e.g. `Retry-After` on a 503 or 429.
        self.headers = headers or {}
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_ or _TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
        }
        if self.extra:
            error.update(self.extra)
        return {"error": error}
