"""The batch worker tries an item again when the gateway itself turned it away (its CPU gate
was full, 503 server_busy, as for its own rate limits): such a refusal says "later", not
"this item is bad"."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lockgate.batch.worker import BatchWorker
from lockgate.engine.answer import Answer
from lockgate.engine.cpu import busy
from lockgate.engine.run import Engine, Reply
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Call
from lockgate.services import Services
from tests.budget.test_limits import gateway_settings

LINE = {
    "custom_id": "a",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
}


def test_items_shed_by_the_cpu_gate_are_retried(tmp_path: Path, fake_upstream: str) -> None:
    services = Services(gateway_settings(tmp_path, fake_upstream))
    engine = Engine(services)
    calls: list[Call] = []

    async def run_turn(call: Call) -> Reply:
        calls.append(call)
        if len(calls) <= 2:
            return Reply(call, None, TurnState(), Answer(), error=busy())
        return await engine.run_turn(call)

    async def main() -> str:
        batch = services.batches.create(
            "file-x",
            "/v1/chat/completions",
            "24h",
            None,
            "anonymous",
            "default",
            [("a", LINE["body"])],
            None,
        )
        worker = BatchWorker(services, run_turn)
        while services.batches.row(batch["id"]).status != "completed":
            await worker.step()
        return str(services.batches.row(batch["id"]).output_file_id)

    output = asyncio.run(main())
    assert len(calls) == 3
    line = json.loads(services.files.read(output, None) or b"{}")
    assert line["response"]["status_code"] == 200
