"""What the scope check adds to a request, measured with timeit in-process.

    .venv/bin/python bench/bench_scope_check.py [--number 20000]

The parts on their own (finding the route a request reaches, asking the matrix whether the
roles grant its scope, the whole `authorize`), then the auth edge middleware end to end on
an anonymous request (no key lookup, so the check is a visible share of it) with the check
in place and with it patched out: the difference is the per-request cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import timeit
from typing import Any

from _common import ROOT, print_table, temp_home

sys.path.insert(0, str(ROOT / "src"))


def _scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8080),
        "scheme": "http",
        "http_version": "1.1",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    from starlette.requests import Request

    from lockgate.config import Settings
    from lockgate.engine.turn import Principal
    from lockgate.gateway import authgate
    from lockgate.gateway.app import create_app
    from lockgate.gateway.scoping import ScopeIndex
    from lockgate.services import Services

    with temp_home() as home:
        settings = Settings(home=home, auth={"allow_anonymous": True})  # type: ignore[arg-type]
        services = Services(settings)
        app = create_app(services, preload_models=False)
        index = ScopeIndex(list(app.routes))
        chat = _scope("POST", "/v1/chat/completions")
        content = _scope("GET", "/v1/files/file-000000000000000000000000/content")
        nowhere = _scope("GET", "/v1/nothing-here")
        roles = ("app",)
        principal = Principal(roles=roles)
        request = Request({**chat, "app": app})
        found = index.find(chat)
        n = args.number

        def us(stmt: Any) -> float:
            return min(timeit.repeat(stmt, number=n, repeat=5)) / n * 1e6

        rows = [
            ("find: chat (memo)", us(lambda: index.find(chat))),
            ("find: files/{id}/content (scan)", us(lambda: index.find(content))),
            ("find: no route (full scan)", us(lambda: index.find(nowhere))),
            ("matrix.allows", us(lambda: services.scopes.allows(roles, "chat"))),
            ("authorize (granted)", us(lambda: authgate.authorize(request, principal, found))),
        ]

        async def inner(scope: Any, receive: Any, send: Any) -> None:
            return None

        middleware = authgate.AuthMiddleware(inner)
        loop = asyncio.new_event_loop()

        async def batch(k: int) -> None:
            for _ in range(k):
                await middleware({**chat, "app": app, "state": {}}, None, None)

        def per_call() -> float:
            # Many requests per loop run, so the event loop's own start-up is not counted.
            runs = [timeit.timeit(lambda: loop.run_until_complete(batch(n)), number=1)]
            return min(runs) / n * 1e6

        def both() -> tuple[float, float]:
            # Alternated, several rounds, best of each: machine noise hits both alike.
            real_find, real_authorize = ScopeIndex.find, authgate.authorize
            withs, withouts = [], []
            for _ in range(7):
                withs.append(per_call())
                ScopeIndex.find = lambda self, scope: found  # type: ignore[method-assign]
                authgate.authorize = lambda request, principal, found: None
                try:
                    withouts.append(per_call())
                finally:
                    ScopeIndex.find = real_find  # type: ignore[method-assign]
                    authgate.authorize = real_authorize
            return min(withs), min(withouts)

        loop.run_until_complete(batch(10))  # warm: the app's index is built on first use
        with_check, without = both()
        loop.close()
        rows += [
            ("edge middleware, with the check", with_check),
            ("edge middleware, check patched out", without),
            ("added per request", with_check - without),
        ]
    table = [(name, f"{v:.2f}") for name, v in rows]
    print_table("scope check, in-process (min of 5 timeit runs)", ["what", "µs per call"], table)


if __name__ == "__main__":
    main()
