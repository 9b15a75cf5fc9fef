"""Which app a request runs as: the credential's, or one of its apps that the caller names;
any other name is a 403, unless the deployment trusts its callers."""

from __future__ import annotations

import pytest

from lockgate.engine.apps import resolve_app
from lockgate.engine.errors import GatewayError
from lockgate.engine.turn import Principal

BOUND = Principal(id="svc", authenticated=True, apps=("support", "internal"))


def test_no_request_gives_the_credentials_default() -> None:
    assert resolve_app(BOUND, None) == "support"
    assert resolve_app(BOUND, "  ") == "support"
    assert resolve_app(Principal(), None) is None


def test_the_caller_may_name_one_of_its_apps() -> None:
    assert resolve_app(BOUND, "internal") == "internal"
    assert resolve_app(BOUND, " internal ") == "internal"


@pytest.mark.parametrize("principal", [BOUND, Principal(), Principal(id="k", authenticated=True)])
def test_any_other_app_is_refused(principal: Principal) -> None:
    with pytest.raises(GatewayError) as exc:
        resolve_app(principal, "relaxed", param="x-lockgate-app")
    err = exc.value
    assert (err.status, err.code, err.param, err.type) == (
        403,
        "app_not_allowed",
        "x-lockgate-app",
        "permission_error",
    )
    assert "relaxed" in err.message


def test_a_trusting_deployment_lets_the_caller_choose() -> None:
    assert resolve_app(Principal(), "relaxed", trusted=True) == "relaxed"
