"""The built-in pipeline stages, registered through the same hook a plugin uses.

Default order (outermost first): rate_limit, input_guard, release, prompt_select, cache,
review, tool_gate, output_guard, retrieve, context_guard, route, build_prompt, budget,
postprocess, answer_check, call_model."""

from __future__ import annotations

from lockgate.engine.pipeline import StageFactory
from lockgate.engine.stages.answer_check import AnswerCheck
from lockgate.engine.stages.budget import Budget
from lockgate.engine.stages.build_prompt import BuildPrompt
from lockgate.engine.stages.cache import Cache
from lockgate.engine.stages.call_model import CallModel
from lockgate.engine.stages.context_guard import ContextGuard
from lockgate.engine.stages.input_guard import InputGuard
from lockgate.engine.stages.output_guard import OutputGuard
from lockgate.engine.stages.postprocess import PostProcess
from lockgate.engine.stages.prompt_select import PromptSelect
from lockgate.engine.stages.rate_limit import RateLimit
from lockgate.engine.stages.release import ReleaseStage
from lockgate.engine.stages.retrieve import Retrieve
from lockgate.engine.stages.review import ReviewGate
from lockgate.engine.stages.route import Route
from lockgate.engine.stages.tool_gate import ToolGate
from lockgate.plugins.hookspecs import Register, hookimpl

BUILTIN: tuple[tuple[str, StageFactory], ...] = (
    (RateLimit.name, RateLimit.from_services),
    (InputGuard.name, InputGuard.from_services),
    (ReleaseStage.name, ReleaseStage.from_services),
    (PromptSelect.name, PromptSelect.from_services),
    (Cache.name, Cache.from_services),
    (ReviewGate.name, ReviewGate.from_services),
    (ToolGate.name, ToolGate.from_services),
    (OutputGuard.name, OutputGuard.from_services),
    (Retrieve.name, Retrieve.from_services),
    (ContextGuard.name, ContextGuard.from_services),
    (Route.name, Route.from_services),
    (BuildPrompt.name, BuildPrompt.from_services),
    (Budget.name, Budget.from_services),
    (PostProcess.name, PostProcess.from_services),
    (AnswerCheck.name, AnswerCheck.from_services),
    (CallModel.name, CallModel.from_services),
)


@hookimpl
def register_stages(register: Register) -> None:
    for name, factory in BUILTIN:
        register(name, factory)
