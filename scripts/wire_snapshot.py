"""Print the gateway's answers to a fixed set of chat requests (plain, streamed, each kind of
error, a stream cut mid-way) with ids and timestamps normalised, so that two versions of the
code can be compared byte for byte:

    (cd OLD && PYTHONPATH=OLD/src:OLD .venv/bin/python scripts/wire_snapshot.py) > old.json
    PYTHONPATH=src:. .venv/bin/python scripts/wire_snapshot.py > new.json && diff old.json new.json

It serves the real app on loopback in front of the tests' fake upstream.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import httpx

from lockgate.gateway.app import create_app
from lockgate.models.minilm import MiniLMEmbedder
from tests.conftest import make_services, make_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve

USER = [{"role": "user", "content": "x"}]
BODIES: list[dict[str, Any]] = [
    {"model": "echo", "messages": [{"role": "user", "content": "hello wire"}]},
    {
        "model": "echo",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "hello stream"},
        ],
    },
    {"model": "nope", "messages": USER},
    {"model": "echo", "messages": []},
    {"model": "echo", "tools": [{}], "messages": USER},
    {"model": "fail-500", "messages": USER},
    {"model": "fail-500", "stream": True, "messages": USER},
    {"model": "cut-stream", "stream": True, "messages": USER},
]
SKIP_HEADERS = ("date", "x-lockgate-trace-id", "content-length")


def _normal(resp: httpx.Response) -> dict[str, Any]:
    text = resp.text.replace(resp.headers.get("x-lockgate-trace-id", "-"), "TRACE")
    text = re.sub(r'"created":\d+', '"created":0', text)
    headers = {k: v for k, v in resp.headers.items() if k not in SKIP_HEADERS}
    return {"status": resp.status_code, "headers": headers, "body": text}


def main() -> None:
    embedder = MiniLMEmbedder()
    out = []
    with serve(create_fake_upstream()) as up:
        services = make_services(make_settings(Path(tempfile.mkdtemp()), up + "/v1"), embedder)
        app = create_app(services, preload_models=False)
        with serve(app, ready_path="/healthz") as base:
            url = base + "/v1/chat/completions"
            for body in BODIES:
                out.append(_normal(httpx.post(url, json=body, timeout=30)))
            out.append(_normal(httpx.post(url, content=b"{bad", timeout=30)))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
