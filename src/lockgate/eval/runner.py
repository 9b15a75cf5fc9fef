"""Evaluation runs: every case of a dataset through the real pipeline (`Engine.run_turn`, in
process, with the Services the gateway would build: guardrails, retrieval, budgets, traces),
scored and checked, into one experiment record (the shape `store/experiments.py` keeps).

Cases run concurrently up to `concurrency`; each is a streamed grounded turn, so its time to
first token is what a client would see, and bypasses the response cache. A turn that fails is
a failed case with its error, never a failed run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.engine.parse import GROUNDED_MODEL
from lockgate.engine.run import Engine, Reply
from lockgate.engine.turn import Call, Principal
from lockgate.errors import GatewayError
from lockgate.eval import answer as am
from lockgate.eval import judge as jd
from lockgate.eval.assertions import Observed, check
from lockgate.eval.dataset import Case
from lockgate.eval.scoring import aggregate, case_metrics, faithfulness_score

if TYPE_CHECKING:
    from lockgate.services import Services

__all__ = ["EvalRunner", "RunOptions"]

OnCase = Callable[[dict[str, Any]], None]
# How often a case shed by a busy pipeline is asked again before it counts as failed.
SHED_RETRIES = 5


@dataclass(frozen=True)
class RunOptions:
    name: str | None = None
    app: str | None = None
    prompt: str | None = None  # a registry prompt, "name@label"
    model: str | None = None  # the grounded assistant's backend (None: grounded.model)
    judge: str | None = None  # a configured model to judge faithfulness with
    judge_prompt: str = jd.JUDGE_PROMPT  # the registry prompt it judges with
    concurrency: int = 4
    k: int = 5  # the cut-off of hit@k, recall@k and nDCG@k
    stream: bool = True

    def stored(self, services: Services) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "name"}
        out["model"] = self.model or services.settings.grounded.model
        if not self.judge:
            out.pop("judge_prompt", None)
        return out


@dataclass
class _Turn:
    reply: Reply | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    error: str | None = None
    streamed: list[str] = field(default_factory=list)
    shed: GatewayError | None = None  # the pipeline was too busy to take the turn


def _wait_s(shed: GatewayError) -> float:
    try:
        wait = float(shed.headers.get("Retry-After", "1"))
    except ValueError:
        wait = 1.0
    return min(max(wait, 0.1), 5.0)


class EvalRunner:
    def __init__(
        self,
        services: Services,
        principal: Principal,
        options: RunOptions,
        engine: Engine | None = None,
    ) -> None:
        if options.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.services = services
        self.principal = principal
        self.options = options
        self.engine = engine if engine is not None else Engine(services)
        # Resolved once, before any case: a missing or unusable judge prompt stops the run
        # instead of failing every case, and every case is judged by the same version.
        self._judge_prompt = (
            jd.resolve_judge_prompt(services.prompt_resolver, options.judge_prompt)
            if options.judge
            else None
        )

    def _stored_options(self) -> dict[str, Any]:
        out = self.options.stored(self.services)
        if self._judge_prompt is not None:
            # The version, not the label: the label may move before anyone reads the result.
            out["judge_prompt"] = f"{self._judge_prompt.name}@{self._judge_prompt.version}"
        return out

    async def run(
        self, cases: Sequence[Case], on_case: OnCase | None = None
    ) -> list[dict[str, Any]]:
        """Case records in dataset order; `on_case` is told of each as it finishes."""
        gate = asyncio.Semaphore(self.options.concurrency)

        async def one(case: Case) -> dict[str, Any]:
            async with gate:
                record = await self.run_case(case)
            if on_case is not None:
                on_case(record)
            return record

        return list(await asyncio.gather(*(one(c) for c in cases)))

    def experiment(
        self, cases: Sequence[Case], records: list[dict[str, Any]], dataset: Path, digest: str
    ) -> dict[str, Any]:
        expected = {c.id: c.expected for c in cases if c.expected and not c.should_refuse}
        pass_rate, metrics = aggregate(records, expected)
        return {
            "name": self.options.name or f"{dataset.stem}-{time.strftime('%Y%m%d-%H%M%S')}",
            "created_at": time.time(),
            "dataset": str(dataset),
            "dataset_hash": digest,
            "options": self._stored_options(),
            "pass_rate": pass_rate,
            "metrics": metrics,
            "cases": records,
        }

    # -- one case ------------------------------------------------------------------------

    def _call(self, case: Case) -> Call:
        body: dict[str, Any] = {
            "model": GROUNDED_MODEL,
            "messages": case.messages(),
            "stream": self.options.stream,
        }
        # An answer from the response cache would measure an earlier run, not this one.
        options: dict[str, Any] = {"cache": False}
        if self.options.prompt:
            options["prompt"] = self.options.prompt
        body["lockgate"] = options
        return Call(
            endpoint="/v1/chat/completions",
            body=body,
            principal=self.principal,
            app=self.options.app,
        )

    async def _turn(self, call: Call) -> _Turn:
        out = _Turn()
        t0 = time.perf_counter()
        try:
            reply = await self.engine.run_turn(call)
            out.reply = reply
            if reply.streaming:
                async for delta in reply.deltas():
                    if delta.text and out.ttft_ms is None:
                        out.ttft_ms = (time.perf_counter() - t0) * 1000
        except Exception as exc:  # noqa: BLE001 - a broken stream fails the case, not the run
            out.error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, GatewayError):
                out.error = f"{exc.status} {exc.code}: {exc}"
                if exc.code == "server_busy":
                    out.shed = exc
        out.latency_ms = (time.perf_counter() - t0) * 1000
        if out.ttft_ms is None:
            out.ttft_ms = out.latency_ms  # answered at once (a refusal, or not streamed)
        if out.reply is not None and out.reply.error is not None and out.error is None:
            err = out.reply.error
            out.error = f"{err.status} {err.code}: {err.message}"
            if err.code == "server_busy":
                out.shed = err
        return out

    async def _turn_waiting(self, case: Case) -> tuple[Call, _Turn]:
        """The case's turn, asked again while the pipeline sheds it (503 server_busy): an
        evaluation is batch work that can wait, and a case failed because the machine was
        busy would measure the machine, not the answers. Waits as Retry-After says."""
        for _ in range(SHED_RETRIES):
            call = self._call(case)
            turn = await self._turn(call)
            if turn.shed is None:
                return call, turn
            await asyncio.sleep(_wait_s(turn.shed))
        call = self._call(case)
        return call, await self._turn(call)

    async def run_case(self, case: Case) -> dict[str, Any]:
        call, turn = await self._turn_waiting(case)
        reply = turn.reply
        answer = reply.answer if reply is not None else None
        state = reply.state if reply is not None else None
        text = answer.text if answer is not None else ""
        refused = bool(answer.refused) if answer is not None else False
        guard_action = state.guard.action if state is not None else "allow"
        chunks = state.retrieval.result.chunks if state and state.retrieval else []
        context = [c.text for c in (state.retrieval.context if state and state.retrieval else [])]
        context = context or [c.text for c in chunks]
        sources = [c.shown_source for c in chunks]
        chunk_ids = {c.chunk_id for c in chunks}
        citations = [
            {
                "index": c["index"],
                "source": c["source"],
                "page": c["page"],
                "chunk_id": c["chunk_id"],
            }
            for c in (answer.citations if answer is not None else [])
        ]
        error = turn.error
        similarity = None
        if case.expected and not case.should_refuse and text.strip() and error is None:
            similarity = await asyncio.to_thread(self._similarity, text, case.expected)
        faithful = None if refused or error else faithfulness_score(text, context)
        judged = None
        if self._judge_prompt is not None and self.options.judge and faithful is not None:
            try:
                judged = await jd.judge_faithfulness(
                    self.services.models,
                    self.options.judge,
                    self._judge_prompt,
                    case.question,
                    context,
                    text,
                )
            except Exception as exc:  # noqa: BLE001 - the judge failing is noted, not fatal
                error = f"judge: {type(exc).__name__}: {exc}"
        metrics = case_metrics(
            case,
            text,
            refused,
            guard_action,
            sources,
            citations,
            chunk_ids,
            self.options.k,
            similarity=similarity,
            faithful=faithful,
            judge=judged,
            degraded=bool(answer.degraded) if answer is not None else False,
            extractive=bool(answer.extractive) if answer is not None else False,
        )
        cost = float(answer.cost) if answer is not None else 0.0
        seen = Observed(
            answer=text,
            refused=refused,
            guard_action=guard_action,
            citations=citations,
            retrieved_chunk_ids=chunk_ids,
            latency_ms=turn.latency_ms,
            cost_usd=cost,
            similarity=similarity,
            groundedness=answer.groundedness if answer is not None else None,
            faithfulness=faithful,
        )
        results = []
        for a in case.asserts:
            ok, detail = check(a, seen)
            results.append({"assert": a.text, "passed": ok, "detail": detail})
        if case.should_refuse is not None:
            ok = refused == case.should_refuse
            want = "refused" if case.should_refuse else "answered"
            results.append(
                {
                    "assert": "should_refuse" if case.should_refuse else "should_answer",
                    "passed": ok,
                    "detail": f"expected {want}, {'refused' if refused else 'answered'}",
                }
            )
        passed = turn.error is None and all(r["passed"] for r in results)
        return {
            "id": case.id,
            "tags": list(case.tags),
            "passed": passed,
            "metrics": metrics,
            "assertions": results,
            "input": case.input,
            "answer": text,
            "refused": refused,
            "citations": citations,
            "sources": sources,
            "latency_ms": round(turn.latency_ms, 3),
            "ttft_ms": round(turn.ttft_ms, 3) if turn.ttft_ms is not None else None,
            "cost_usd": cost,
            "trace_id": call.trace_id,
            "error": error,
        }

    def _similarity(self, a: str, b: str) -> float:
        embedder = self.services.embedder
        return am.embedding_similarity(a, b, lambda t: embedder.embed([t])[0])
