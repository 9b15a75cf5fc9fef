"""Which scope each HTTP route needs, declared next to the route and looked up at the edge.

A route declares its scope with `scoped(Route(...), scope)` where it is put in the route
table (app.py for the built-ins, a plugin's `register_routes` for its own). The auth edge
finds the route a request will reach the same way Starlette's router does (first full
match, in table order) and refuses with 403 before the handler runs when the caller's roles
do not grant that scope. A route that declares nothing is refused to everybody, admins
included: a route added without thought for who may call it stays shut until someone
decides."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from lockgate.auth.scopes import PUBLIC, SCOPES

R = TypeVar("R", bound=BaseRoute)
_ATTR = "lockgate_scope"


def scoped(route: R, scope: str) -> R:
    """Declare the scope `route` needs (`lockgate.auth.scopes`), or `PUBLIC` for a route that
    answers without a credential. Returns the route, for use inside a route list."""
    if scope != PUBLIC and scope not in SCOPES:
        raise ValueError(f"unknown scope '{scope}' (known: {', '.join(SCOPES)})")
    setattr(route, _ATTR, scope)
    return route


def scope_of(route: BaseRoute) -> str | None:
    """The declared scope, None when the route declares none."""
    found = getattr(route, _ATTR, None)
    return found if isinstance(found, str) else None


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route with its full path; a mount is one route (its scope covers what it
    holds), and so is each route inside it."""
    for route in routes:
        path = prefix + getattr(route, "path", "")
        yield path, route
        if isinstance(route, Mount):
            yield from walk(list(route.routes), path)


@dataclass(frozen=True)
class Found:
    """What a request will reach: `route` None when no route matches (the router answers
    404) or only another method's does (405); `scope` None for an undeclared route."""

    route: BaseRoute | None
    scope: str | None


_NOWHERE = Found(None, None)


class ScopeIndex:
    """The route table, searched as the router searches it. Requests to a route without path
    parameters (chat, embeddings, search: the hot paths) are answered from a memo; the memo
    holds only such routes' own paths, so arbitrary request paths cannot grow it."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.routes = list(routes)
        # A plain route's literal head (its path up to the first parameter): a request path
        # that does not start with it cannot match, and testing that costs a tenth of the
        # route's regex, which costs a tenth of `Route.matches`.
        self._heads = [
            (r, r.path.split("{", 1)[0] if isinstance(r, Route) else None) for r in self.routes
        ]
        self._memo: dict[tuple[str, str], Found] = {}

    def _candidates(self, scope: Scope) -> list[BaseRoute]:
        """The routes that may match, in table order (cheap tests only)."""
        if scope.get("root_path"):
            return self.routes
        path = scope["path"]
        return [
            r
            for r, head in self._heads
            if head is None
            or (path.startswith(head) and isinstance(r, Route) and r.path_regex.match(path))
        ]

    def find(self, scope: Scope) -> Found:
        key = (scope["method"], scope["path"])
        found = self._memo.get(key)
        if found is not None:
            return found
        found = _NOWHERE
        for route in self._candidates(scope):
            # The router's own test decides, so both always agree on the route.
            match, _ = route.matches(scope)
            if match is Match.FULL:
                found = Found(route, scope_of(route))
                break
        if (
            found.route is not None
            and isinstance(found.route, Route)
            and found.route.path == scope["path"]
        ):
            self._memo[key] = found
        return found
