"""Pick the release that serves this turn and apply it, before anything is looked up in the
cache or sent: the rollout release for a caller in its pilot or its share, else the current
release, else none. Applying one pins its prompt (unless the request named a prompt itself),
points the turn at its model and fills in the parameters the request left unset. The choice
is `state.release`, and so the trace's `release`; the cache keys on it, so one release's
answers are never served to another release's callers."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import Settings
from lockgate.engine.answer import Answer
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.releases.active import Active, ActiveReleases
from lockgate.releases.assign import caller, serves
from lockgate.releases.model import Release

if TYPE_CHECKING:
    from lockgate.services import Services


def pick(active: Active, turn: Turn) -> Release | None:
    if active.rollout is not None:
        p = turn.principal
        user = turn.body.get("user")
        who = caller(p.id, p.roles, p.tenant, p.key_id, user if isinstance(user, str) else None)
        if serves(active.rollout, who):
            return active.rollout
    return active.current


class ReleaseStage(Stage):
    name: ClassVar[str] = "release"
    after: ClassVar[tuple[str, ...]] = ("rate_limit", "input_guard")
    before: ClassVar[tuple[str, ...]] = (
        "cache",
        "retrieve",
        "route",
        "build_prompt",
        "budget",
        "call_model",
    )

    def __init__(self, active: ActiveReleases, settings: Settings) -> None:
        self.active = active
        self.settings = settings

    @classmethod
    def from_services(cls, services: Services) -> ReleaseStage | None:
        if not services.settings.releases.enabled:
            return None
        return cls(services.active_releases, services.settings)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        release = pick(await self.active.get(), turn)
        if release is None:
            return await call_next(turn, state)
        state.release = (release.name, release.stage)
        return await call_next(self.apply(release, turn, state), state)

    def apply(self, release: Release, turn: Turn, state: TurnState) -> Turn:
        notes = [f"{release.name} ({release.stage})"]
        prompt = self.settings.grounded.prompt
        if turn.grounded and turn.prompt_ref is None and prompt in release.prompts:
            turn = replace(turn, prompt_ref=f"{prompt}@{release.prompts[prompt]}")
        target = release.model if turn.grounded else release.models.get(turn.model_name)
        if target is not None and target != turn.backend_model:
            spec = self.settings.models.get(target)
            if spec is None:
                # The registry changed since the release was made: keep serving, say so.
                notes.append(f"model '{target}' is not in the registry; kept {turn.backend_model}")
            else:
                turn = turn.with_backend(target, spec.backend)
        limit = self.settings.models[turn.backend_model].max_output_tokens
        body = turn.body
        changes: dict[str, object] = {}
        for key in ("temperature", "top_p"):
            if key in release.params and body.get(key) is None:
                changes[key] = release.params[key]
        asked = body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None
        if "max_tokens" in release.params and not asked:
            changes["max_tokens"] = int(release.params["max_tokens"])
        max_tokens = changes.get("max_tokens", turn.request.max_tokens)
        assert isinstance(max_tokens, int)
        if max_tokens > limit:
            # Another model may allow less than the one the request was checked against.
            changes["max_tokens"] = limit
        if changes:
            turn = turn.with_request(**changes)
        state.note("release", 0.0, "; ".join(notes))
        return turn
