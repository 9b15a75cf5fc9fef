"""Prompts (versions and labels of the registry) and staged releases (stage, share, history,
the live window against the current release)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lockgate.store.prompts import PromptNotFound
from lockgate.ui.render import page, services_of

NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


async def prompts(request: Request) -> Response:
    services = services_of(request)
    summaries = await asyncio.to_thread(services.prompt_store.summaries)
    return page(request, "prompts.html", title="Prompts", prompts=summaries)


async def prompt_detail(request: Request) -> Response:
    services = services_of(request)
    name = str(request.path_params["name"])
    if not NAME.fullmatch(name):
        raise HTTPException(404, f"no prompt named '{name[:128]}'")

    def load() -> tuple[list[Any], dict[str, int]]:
        store = services.prompt_store
        return store.versions(name), store.labels(name)

    try:
        versions, labels = await asyncio.to_thread(load)
    except PromptNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    if not versions:
        raise HTTPException(404, f"no prompt named '{name}'")
    by_seq: dict[int, list[str]] = {}
    for label, seq in labels.items():
        by_seq.setdefault(seq, []).append(label)
    return page(
        request,
        "prompt.html",
        title=f"Prompt {name}",
        name=name,
        versions=sorted(versions, key=lambda v: -v.seq),
        labels=by_seq,
    )


async def releases(request: Request) -> Response:
    services = services_of(request)

    def load() -> dict[str, Any]:
        store = services.releases
        every = store.all()
        current, candidate = store.active()
        return {
            "releases": [r.as_dict() for r in every],
            "current": current.name if current else None,
            "candidate": candidate.name if candidate else None,
            "history": {r.name: [c.as_dict() for c in store.history(r.name)] for r in every},
        }

    data = await asyncio.to_thread(load)
    return page(request, "releases.html", title="Releases", **data)
