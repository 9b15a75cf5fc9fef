"""The batch API through the official `openai` SDK: upload a JSONL file, create a batch, let
the background worker run it through the pipeline against a fake upstream, download the output
and error files; list, cancel, delete; invalid input reported per line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from lockgate.batch.batches import InvalidInput, parse_input
from lockgate.batch.worker import in_window
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.budget.test_limits import gateway_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve


def line(cid: str, text: str, model: str = "echo", **body: Any) -> str:
    return json.dumps(
        {
            "custom_id": cid,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}], **body},
        }
    )


@pytest.fixture
def upstream() -> Iterator[tuple[str, Any]]:
    app = create_fake_upstream()
    with serve(app) as base:
        yield base + "/v1", app


def start(tmp_path: Path, base: str, **batch: Any) -> Any:
    settings = gateway_settings(tmp_path, base)
    settings.batch = settings.batch.model_copy(
        update={"enabled": True, "poll_interval_s": 0.05, **batch}
    )
    return Services(settings)


def wait_for(client: openai.OpenAI, batch_id: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        b = client.batches.retrieve(batch_id)
        if b.status in ("completed", "failed", "cancelled", "expired"):
            return b
        assert time.monotonic() < deadline, b
        time.sleep(0.05)


def test_openai_sdk_batch_round_trip(tmp_path: Path, upstream: Any) -> None:
    base, fake = upstream
    services = start(tmp_path, base)
    lines = [line(f"req-{i}", f"hello {i}", max_tokens=16) for i in range(5)]
    lines.append(line("bad-model", "x", model="no-such-model"))
    lines.append(line("upstream-500", "x", model="fail-500"))
    with serve(create_app(services, preload_models=False)) as url:
        client = openai.OpenAI(
            base_url=url + "/v1",
            api_key="unused",
            max_retries=0,
            default_headers={"x-lockgate-caller": "batcher"},
        )
        f = client.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
        assert f.purpose == "batch" and f.bytes > 0 and f.id.startswith("file-")
        assert client.files.retrieve(f.id).filename == "in.jsonl"
        assert f.id in {x.id for x in client.files.list(purpose="batch")}
        b = client.batches.create(
            input_file_id=f.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"project": "nightly"},
        )
        assert b.status == "validating" and b.request_counts.total == 7
        done = wait_for(client, b.id)
        assert done.status == "completed", done
        assert done.request_counts.completed == 5 and done.request_counts.failed == 2
        assert done.output_file_id and done.error_file_id
        assert b.id in {x.id for x in client.batches.list()}
        out = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
        err = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    by_id = {o["custom_id"]: o for o in out}
    assert set(by_id) == {f"req-{i}" for i in range(5)}
    for i in range(5):
        o = by_id[f"req-{i}"]
        assert o["id"].startswith("batch_req_") and o["error"] is None
        assert o["response"]["status_code"] == 200
        assert o["response"]["body"]["choices"][0]["message"]["content"] == f"echo: hello {i}"
        trace = services.traces.get(o["response"]["request_id"])
        assert trace["endpoint"] == "/v1/batches" and trace["principal"] == "batcher"
    errs = {e["custom_id"]: e for e in err}
    assert errs["bad-model"]["response"]["status_code"] == 404
    assert errs["bad-model"]["response"]["body"]["error"]["code"] == "model_not_found"
    assert errs["upstream-500"]["response"]["status_code"] == 502
    calls = [c["messages"][-1]["content"] for c in fake.state.calls]
    # Each item reached the upstream once (the failing one is retried by the resilience
    # layer inside its single pipeline run, which is its business, not the batch's).
    assert sorted(c for c in calls if c != "x") == [f"hello {i}" for i in range(5)]


def test_cancel_list_delete_and_invalid_input(tmp_path: Path, upstream: Any) -> None:
    base, _ = upstream
    services = start(tmp_path, base, item_interval_s=0.3)
    with serve(create_app(services, preload_models=False)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        data = "\n".join(line(f"c{i}", f"n{i}") for i in range(30)).encode()
        f = client.files.create(file=("big.jsonl", data), purpose="batch")
        b = client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        time.sleep(0.5)
        cancelling = client.batches.cancel(b.id)
        assert cancelling.status in ("cancelling", "cancelled")
        done = wait_for(client, b.id)
        assert done.status == "cancelled" and done.cancelled_at
        assert 0 < done.request_counts.completed < 30
        err = client.files.content(done.error_file_id).text.splitlines()
        assert json.loads(err[0])["error"]["code"] == "batch_cancelled"
        assert done.request_counts.completed + len(err) == 30

        bad = client.files.create(
            file=("bad.jsonl", b'{"custom_id": "a", "method": "GET", "url": "/v1/x"}\nnot json\n'),
            purpose="batch",
        )
        failed = client.batches.create(
            input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert failed.status == "failed"
        codes = {(e.line, e.code) for e in failed.errors.data}
        assert (1, "invalid_method") in codes and (2, "invalid_json_line") in codes

        deleted = client.files.delete(f.id)
        assert deleted.deleted is True
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(f.id)
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve("batch_nope")
        r = httpx.post(
            url + "/v1/files", files={"file": ("x.jsonl", b"{}")}, data={"purpose": "nonsense"}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_purpose"


def test_parse_input_rules() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_input(line("a", "x\ud800").encode(), "/v1/chat/completions", 10)
    assert exc.value.errors[0]["code"] == "invalid_json_line"
    assert "surrogate" in exc.value.errors[0]["message"]
    with pytest.raises(InvalidInput) as exc:
        parse_input((line("a", "x") + "\n" + line("a", "y")).encode(), "/v1/chat/completions", 10)
    assert exc.value.errors[0]["code"] == "duplicate_custom_id"
    assert len(parse_input(line("a", "x").encode() + b"\n\n", "/v1/chat/completions", 10)) == 1
    with pytest.raises(InvalidInput):
        parse_input(b"", "/v1/chat/completions", 10)


def test_off_peak_window() -> None:
    t = 1_750_000_000.0  # 15:06 UTC
    assert in_window(None, t)
    assert in_window("15:00-16:00", t) and not in_window("16:00-17:00", t)
    assert in_window("22:00-16:00", t) and not in_window("22:00-06:00", t)
