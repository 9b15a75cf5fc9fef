"""Create, promote and roll back releases: the state machine's decision, applied by the store,
announced as events (the audit log records each, with who). The CLI and the monitor both go
through here, so no stage change escapes the log."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lockgate.observability.events import Event, ReleaseRolledBack, ReleaseStageChanged
from lockgate.releases import states
from lockgate.releases.model import Release, ReleaseError, check_name

if TYPE_CHECKING:
    from lockgate.releases.active import ActiveReleases
    from lockgate.store.releases import ReleaseStore, StageChange

Emit = Callable[[list[Event]], None]
# The prompt registry's versions of a name (empty when there is no such prompt).
PromptVersions = Callable[[str], Collection[int]]


class Releases:
    def __init__(
        self,
        store: ReleaseStore,
        models: Collection[str],
        emit: Emit,
        active: ActiveReleases | None = None,
        prompt_versions: PromptVersions | None = None,
    ) -> None:
        self.store = store
        self.models = models  # the registry's model names
        self.emit = emit
        self.active = active
        self.prompt_versions = prompt_versions

    def get(self, name: str) -> Release:
        found = self.store.get(name)
        if found is None:
            raise ReleaseError(f"no release named '{name}'")
        return found

    def create(
        self,
        name: str,
        actor: str,
        prompts: Mapping[str, int] | None = None,
        model: str | None = None,
        models: Mapping[str, str] | None = None,
        params: Mapping[str, float | int] | None = None,
    ) -> Release:
        check_name(name)
        aliases = dict(models or {})
        for wanted in ([model] if model else []) + list(aliases.values()):
            if wanted not in self.models:
                raise ReleaseError(
                    f"model '{wanted}' is not in the registry (known: {', '.join(self.models)})"
                )
        if self.prompt_versions is not None:
            # Checked now rather than at the first turn: a release pinning a version that does
            # not exist would answer its users with 503s until someone noticed.
            for prompt, version in (prompts or {}).items():
                known = self.prompt_versions(prompt)
                if version not in known:
                    have = ", ".join(str(v) for v in sorted(known)) or "none"
                    raise ReleaseError(
                        f"prompt '{prompt}' has no version {version} in the registry "
                        f"(versions: {have})"
                    )
        if not (prompts or model or aliases or params):
            raise ReleaseError("a release needs at least one prompt pin, model or parameter")
        made = self.store.create(
            Release(
                name=name,
                prompts=dict(prompts or {}),
                model=model,
                models=aliases,
                params=dict(params or {}),
                created_by=actor,
                created_at=time.time(),
            )
        )
        detail = {"prompts": made.prompts, "model": made.model, "models": made.models,
                  "params": made.params}
        self.emit([ReleaseStageChanged("", actor, name, None, "draft", detail)])
        return made

    def promote(
        self,
        name: str,
        target: str,
        actor: str,
        percent: float | None = None,
        pilot: Sequence[str] = (),
    ) -> Release:
        release = self.get(name)
        current, rollout = self.store.active()
        move = states.promote(release, target, current, rollout, percent, pilot)
        written = self.store.apply(move, actor)
        self._changed(written, actor)
        return self.get(name)

    def rollback(
        self,
        name: str,
        reason: str,
        actor: str,
        automatic: bool = False,
        against: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Release:
        release = self.get(name)
        move = states.rollback(release, reason)
        detail = {"automatic": automatic, "against": against} if automatic else {}
        written = self.store.apply(move, actor, detail)
        restored = next((c.release for c in written[1:] if c.to_stage == "full"), None)
        event = ReleaseRolledBack(
            "", actor, name, release.stage, move.reason or reason, automatic, against,
            metrics or {}, restored,
        )
        self._changed(written[1:], actor, first=[event])
        return self.get(name)

    def _changed(
        self, written: Sequence[StageChange], actor: str, first: Sequence[Event] = ()
    ) -> None:
        if self.active is not None:
            self.active.invalidate()  # this process serves the change at its next turn
        events: list[Event] = list(first)
        events += [
            ReleaseStageChanged("", actor, c.release, c.from_stage, c.to_stage, c.detail)
            for c in written
        ]
        self.emit(events)
