"""The embedded Gemma model through the ChatBackend interface."""

from __future__ import annotations

import asyncio
import threading
import time

from lockgate.models.base import ChatRequest, Message
from lockgate.models.llama_local import LlamaCppModel, render_chat


def test_streams_tokens_and_counts_usage(gemma: LlamaCppModel) -> None:
    req = ChatRequest(
        messages=[], max_tokens=8, temperature=0.0, raw_prompt="The capital of France is"
    )

    async def collect() -> list:
        return [d async for d in gemma.stream(req)]

    deltas = asyncio.run(collect())
    text = "".join(d.text for d in deltas)
    assert text.strip()
    usage = [d.usage for d in deltas if d.usage][-1]
    assert 0 < usage.completion_tokens <= 8
    assert usage.prompt_tokens == gemma.count_tokens("The capital of France is")


def test_a_stream_left_when_its_loop_closes_ends_quietly(gemma: LlamaCppModel) -> None:
    # A caller that stops reading after the first token and finishes its loop: the
    # generating thread must stop, not die on the closed loop.
    req = ChatRequest(
        messages=[], max_tokens=32, temperature=0.0, raw_prompt="List the planets: Mercury,"
    )
    failures: list[threading.ExceptHookArgs] = []
    before = threading.excepthook
    threading.excepthook = failures.append

    async def first() -> str:
        agen = gemma.stream(req)
        delta = await agen.__anext__()
        return delta.text

    try:
        assert isinstance(asyncio.run(first()), str)
        deadline = time.monotonic() + 30
        while any(t.name == f"llama-{gemma.name}" for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the generating thread never stopped"
            time.sleep(0.05)
    finally:
        threading.excepthook = before
    assert not failures, [str(f.exc_value) for f in failures]


def test_stop_sequence_ends_generation(gemma: LlamaCppModel) -> None:
    prompt = "Count: 1, 2, 3, 4, 5, 6, 7, 8,"
    result = asyncio.run(
        gemma.complete(
            ChatRequest(messages=[], max_tokens=24, temperature=0.0, stop=["8"], raw_prompt=prompt)
        )
    )
    assert "8" not in result.text


def test_chat_is_rendered_as_a_transcript() -> None:
    prompt = render_chat([Message("system", "Be brief."), Message("user", "Hi")])
    assert prompt.endswith("Assistant:")
    assert "User: Hi" in prompt
