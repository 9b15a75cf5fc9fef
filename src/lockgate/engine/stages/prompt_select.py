"""Pick the registry prompt a grounded turn answers with, before the cache looks up.

The turn's own reference (`lockgate.prompt`, or one a release set) wins; otherwise
`grounded.prompt` at `grounded.prompt_version` when pinned, else at `grounded.prompt_label`.
The label is resolved through the resolver's short-lived cache, so a label moved by
`lockgate prompts label` in another process is followed within seconds. Whether the caller
may pin at all is decided when the request is parsed (`engine/pins.py`), not here: a
release's reference is the operator's choice, not the caller's.

The prompt's model parameters apply where the request set none."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from lockgate.config import GroundedConfig, ModelSpec
from lockgate.engine.answer import Answer
from lockgate.engine.errors import GatewayError
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import PromptRecord, TurnState
from lockgate.engine.turn import Turn
from lockgate.prompts.resolver import PromptResolver, ResolvedPrompt
from lockgate.prompts.spec import parse_ref
from lockgate.store.prompts import PromptNotFound

if TYPE_CHECKING:
    from lockgate.services import Services

PARAM = "lockgate.prompt"
# What build_prompt fills in; a grounded prompt may use any of them and nothing else.
GROUNDED_VARIABLES = frozenset({"sources", "question", "canary"})
_ALLOWED = ", ".join(sorted(GROUNDED_VARIABLES))


class PromptSelect(Stage):
    name: ClassVar[str] = "prompt_select"
    before: ClassVar[tuple[str, ...]] = ("cache", "build_prompt")

    def __init__(
        self, resolver: PromptResolver, config: GroundedConfig, models: dict[str, ModelSpec]
    ) -> None:
        self.resolver = resolver
        self.config = config
        self.models = models

    @classmethod
    def from_services(cls, services: Services) -> PromptSelect:
        s = services.settings
        return cls(services.prompt_resolver, s.grounded, dict(s.models))

    def select(self, turn: Turn) -> ResolvedPrompt:
        if turn.prompt_ref:
            try:
                return self._pinned(turn.prompt_ref)
            except GatewayError as exc:
                if turn.options is not None and turn.options.prompt == turn.prompt_ref:
                    raise  # the caller's own pin: its mistake, a 400
                # Set by a release: the operator's configuration is wrong, not the request.
                raise GatewayError(503, exc.message, "prompt_not_configured") from None
        cfg = self.config
        try:
            found = self.resolver.resolve(cfg.prompt, cfg.prompt_label, cfg.prompt_version)
        except PromptNotFound as exc:
            raise GatewayError(
                503,
                f"the grounded prompt is not in the registry: {exc} "
                "(push it with `lockgate prompts push`, or check grounded.prompt)",
                "prompt_not_configured",
            ) from None
        unknown = set(found.spec.variables) - GROUNDED_VARIABLES
        if unknown:
            raise GatewayError(
                503,
                f"grounded prompt '{found.name}' version {found.version} uses variables a "
                f"grounded answer does not supply: {', '.join(sorted(unknown))}",
                "prompt_not_configured",
            )
        return found

    def _pinned(self, ref: str) -> ResolvedPrompt:
        try:
            name, label, version = parse_ref(ref)
        except ValueError as exc:
            raise GatewayError(400, str(exc), "invalid_value", PARAM) from None
        if label is None and version is None:
            label = self.config.prompt_label
        try:
            found = self.resolver.resolve(name, label, version)
        except PromptNotFound as exc:
            raise GatewayError(400, f"{PARAM}: {exc}", "invalid_value", PARAM) from None
        unknown = set(found.spec.variables) - GROUNDED_VARIABLES
        if unknown:
            raise GatewayError(
                400,
                f"{PARAM}: prompt '{ref}' uses variables a grounded answer does not supply: "
                f"{', '.join(sorted(unknown))} (it may use: {_ALLOWED})",
                "invalid_value",
                PARAM,
            )
        return found

    def apply_params(self, turn: Turn, found: ResolvedPrompt) -> Turn:
        params = found.spec.model
        if params is None:
            return turn
        if params.model and params.model != turn.backend_model:
            spec = self.models.get(params.model)
            if spec is None:
                raise GatewayError(
                    503,
                    f"prompt '{found.name}' version {found.version} names model "
                    f"'{params.model}', which is not in the registry",
                    "model_not_configured",
                )
            turn = turn.with_backend(params.model, spec.backend)
        body = turn.body
        changes: dict[str, Any] = {}
        for field in ("temperature", "top_p", "seed"):
            value = getattr(params, field)
            if value is not None and body.get(field) is None:
                changes[field] = value
        if params.stop is not None and body.get("stop") is None:
            changes["stop"] = list(params.stop)
        asked = body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None
        if params.max_tokens is not None and not asked:
            backend = self.models.get(turn.backend_model)
            limit = backend.max_output_tokens if backend is not None else params.max_tokens
            changes["max_tokens"] = min(params.max_tokens, limit)
        return turn.with_request(**changes) if changes else turn

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not turn.grounded:
            return await call_next(turn, state)
        found = self.select(turn)
        state.prompt = PromptRecord(found.name, found.version, found.hash, found.label, found.spec)
        return await call_next(self.apply_params(turn, found), state)
