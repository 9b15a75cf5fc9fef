"""Bad input on every non-chat route is a 400/404/413 with an OpenAI-style body naming the
field, never a 500: wrong types, unknown fields, out-of-range query values, odd path ids, lone
surrogates, oversized embeddings requests and uploads."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from lockgate.gateway.app import create_app
from tests.conftest import make_services, make_settings
from tests.gateway.test_errors import assert_error
from tests.support.server import serve

FILE_LIMIT = 64 * 1024
CHAT = '{"model": "%s", "messages": [{"role": "user", "content": "%s"}]}'


@pytest.fixture(scope="module")
def base(tmp_path_factory, embedder, fake_upstream) -> Iterator[str]:
    home = tmp_path_factory.mktemp("bad-input-home")
    settings = make_settings(
        home,
        fake_upstream,
        batch={"enabled": False, "max_file_bytes": FILE_LIMIT},
        server={"body_read_timeout_s": 1.0},
    )
    services = make_services(settings, embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as url:
        yield url


@pytest.fixture(autouse=True)
def still_serving(base: str) -> Iterator[None]:
    yield
    assert httpx.get(base + "/healthz", timeout=10).status_code == 200


def upload(base: str, data: bytes = b"{}\n", caller: str = "alice", **fields: str) -> Any:
    return httpx.post(
        base + "/v1/files",
        files={"file": ("in.jsonl", data)},
        data=fields or {"purpose": "batch"},
        headers={"x-lockgate-caller": caller},
        timeout=30,
    )


# -- batches ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        # Once a 500 (`unhashable type: 'list'`): a list where the file id belongs.
        ({"input_file_id": ["x"], "endpoint": "/v1/chat/completions"}, "invalid_value", None),
        ({"input_file_id": {"a": 1}, "endpoint": "/v1/chat/completions"}, "invalid_value", None),
        ({"input_file_id": 7, "endpoint": "/v1/chat/completions"}, "invalid_value", None),
        ({"endpoint": "/v1/chat/completions"}, "missing_required_parameter", "input_file_id"),
        ({"input_file_id": "file-x", "endpoint": ["/v1/chat/completions"]}, "invalid_value", None),
        ({"input_file_id": "f", "endpoint": "/v1/embeddings"}, "invalid_value", "endpoint"),
        (
            {"input_file_id": "f", "endpoint": "/v1/chat/completions", "completion_window": "1h"},
            "invalid_value",
            "completion_window",
        ),
        (
            {"input_file_id": "f", "endpoint": "/v1/chat/completions", "metadata": ["a"]},
            "invalid_value",
            "metadata",
        ),
        (
            {"input_file_id": "f", "endpoint": "/v1/chat/completions", "metadata": {"a": 1}},
            "invalid_value",
            "metadata.a",
        ),
        (
            {
                "input_file_id": "f",
                "endpoint": "/v1/chat/completions",
                "metadata": {str(i): "v" for i in range(17)},
            },
            "invalid_value",
            "metadata",
        ),
        (
            {"input_file_id": "f", "endpoint": "/v1/chat/completions", "priority": 1},
            "unknown_parameter",
            "priority",
        ),
    ],
)
def test_create_batch_rejects_bad_fields(
    base: str, body: dict[str, Any], code: str, param: str | None
) -> None:
    err = assert_error(httpx.post(base + "/v1/batches", json=body, timeout=30), 400, code)
    if param is None:
        first = next(iter(k for k in body if k != "endpoint" or "input_file_id" in body))
        assert str(err["param"]).split(".")[0] in body and err["param"], (err, first)
    else:
        assert err["param"] == param


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_file_id", ["file-x"]),
        # Once `TypeError: unhashable type` and a 500: looked up in a dict of windows.
        ("completion_window", ["24h"]),
        ("completion_window", {"24h": 1}),
        ("endpoint", {"/v1/chat/completions": 1}),
    ],
)
def test_create_batch_containers_name_the_field(base: str, field: str, value: Any) -> None:
    body: dict[str, Any] = {"input_file_id": "file-x", "endpoint": "/v1/chat/completions"}
    body[field] = value
    err = assert_error(httpx.post(base + "/v1/batches", json=body, timeout=30), 400)
    assert err["param"] == field and err["code"] == "invalid_value"


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/batches?limit=abc", "limit"),
        ("/v1/batches?limit=0", "limit"),
        ("/v1/batches?limit=101", "limit"),
        ("/v1/batches?limit=1&limit=2", "limit"),
        ("/v1/batches?after=" + "a" * 100, "after"),
        ("/v1/batches?order=asc", "order"),
        ("/v1/files?limit=-1", "limit"),
        ("/v1/files?order=sideways", "order"),
        ("/v1/files?purpose=" + "p" * 40, "purpose"),
        ("/v1/files?after=a&after=b", "after"),
    ],
)
def test_list_query_parameters_are_typed(base: str, path: str, param: str) -> None:
    assert_error(httpx.get(base + path, timeout=30), 400, param=param)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/files/..%2F..%2Fetc%2Fpasswd"),
        ("GET", "/v1/files/" + "f" * 5000),
        ("DELETE", "/v1/files/file-zz"),
        ("GET", "/v1/files/%F0%9F%98%80/content"),
        ("GET", "/v1/batches/batch_%00"),
        ("POST", "/v1/batches/" + "b" * 500 + "/cancel"),
    ],
)
def test_odd_path_ids_are_404(base: str, method: str, path: str) -> None:
    resp = httpx.request(method, base + path, timeout=30)
    assert resp.status_code == 404, resp.text
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}


# -- files --------------------------------------------------------------------------------


def test_upload_fields_are_typed(base: str) -> None:
    assert_error(upload(base, purpose="nonsense"), 400, "invalid_purpose", "purpose")
    assert_error(upload(base, purpose="batch", extra="x"), 400, "unknown_parameter", "extra")
    resp = httpx.post(base + "/v1/files", files={"file": ("a", b"{}")}, timeout=30)
    assert_error(resp, 400, "missing_required_parameter", "purpose")
    resp = httpx.post(
        base + "/v1/files",
        files=[("file", ("a", b"{}")), ("purpose", ("p", b"batch"))],
        timeout=30,
    )
    assert_error(resp, 400)  # a file part where a text field belongs
    resp = httpx.post(base + "/v1/files", data={"purpose": "batch"}, files={}, timeout=30)
    assert resp.status_code in (400, 415)


def test_upload_over_limit_is_413(base: str) -> None:
    assert upload(base, b"x" * (FILE_LIMIT - 100)).status_code == 200
    assert_error(upload(base, b"x" * (FILE_LIMIT + 1)), 413, "file_too_large")


def _post_chunked(base: str, path: str, head: bytes, chunk: bytes, total: int) -> tuple[bytes, int]:
    """Sends a chunked body until the server answers; returns the reply and the bytes sent."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sent = 0
    try:
        sock.sendall(head)
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        reply = b""
        sock.settimeout(10)
        while b"\r\n\r\n" not in reply:
            part = sock.recv(65536)
            if not part:
                break
            reply += part
        return reply, sent
    finally:
        sock.close()


def test_chunked_upload_is_cut_off_at_the_limit(base: str) -> None:
    boundary = "lockgateboundary"
    head = (
        "POST /v1/files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    head += b"%x\r\n%s\r\n" % (len(preamble), preamble)
    total = 30 * 1024 * 1024
    reply, sent = _post_chunked(base, "/v1/files", head, b"x" * 16384, total)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    # Answered long before the 30 MB were sent: the limit works on the stream itself.
    assert sent < 8 * 1024 * 1024, sent


def test_slow_body_times_out(base: str) -> None:
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        t0 = time.monotonic()
        sock.settimeout(10)
        reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert time.monotonic() - t0 < 5


# -- surrogates, embeddings, guardrails, search -------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", CHAT % ("echo", "\\ud800")),
        ("/v1/chat/completions", CHAT % ("lockgate", "a\\udfff")),
        ("/v1/embeddings", '{"model": "all-MiniLM-L6-v2", "input": "\\ud800"}'),
        ("/v1/embeddings", '{"model": "all-MiniLM-L6-v2", "input": ["ok", "\\udc00x"]}'),
        ("/v1/search", '{"query": "\\ud800"}'),
        ("/v1/guardrails/check", '{"text": "\\ud800"}'),
        ("/v1/batches", '{"input_file_id": "\\ud800", "endpoint": "/v1/chat/completions"}'),
        ("/v1/batches", '{"\\ud800": 1}'),
    ],
)
def test_lone_surrogate_is_400(base: str, path: str, body: str) -> None:
    resp = httpx.post(base + path, content=body.encode(), timeout=60)
    assert_error(resp, 400, "invalid_json")


def test_surrogate_pair_is_fine(base: str) -> None:
    body = '{"model": "all-MiniLM-L6-v2", "input": "smile \\ud83d\\ude00"}'
    resp = httpx.post(base + "/v1/embeddings", content=body.encode(), timeout=60)
    assert resp.status_code == 200, resp.text


def test_embeddings_default_limits(base: str) -> None:
    # The model reads 256 word pieces of an input: more inputs or longer ones only cost CPU.
    many = {"model": "all-MiniLM-L6-v2", "input": ["x"] * 65}
    err = assert_error(httpx.post(base + "/v1/embeddings", json=many, timeout=30), 400)
    assert err["param"] == "input" and "64" in err["message"]
    long = {"model": "all-MiniLM-L6-v2", "input": ["y" * 8193]}
    err = assert_error(httpx.post(base + "/v1/embeddings", json=long, timeout=30), 400)
    assert err["param"] == "input" and "8192" in err["message"]
    big = {"model": "all-MiniLM-L6-v2", "input": ["y" * 8000] * 17}
    err = assert_error(httpx.post(base + "/v1/embeddings", json=big, timeout=30), 400)
    assert err["param"] == "input" and "131072" in err["message"]


@pytest.mark.parametrize(
    ("body", "param", "limit"),
    [
        ({"text": "a" * 1_000_001}, "text", "1000000"),
        ({"text": "a", "user_text": "u" * 32_001}, "user_text", "32000"),
        ({"text": "a", "context": ["c"] * 21}, "context", "20"),
        ({"text": "a", "context": ["c" * 50_000] * 3}, "context", "100000"),
    ],
)
def test_guardrails_check_default_size_limits(
    base: str, body: dict[str, Any], param: str, limit: str
) -> None:
    resp = httpx.post(base + "/v1/guardrails/check", json=body, timeout=60)
    err = assert_error(resp, 400, param=param)
    assert limit in err["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"text": ["a"]}, "text"),
        ({"text": "a", "direction": "sideways"}, "direction"),
        ({"text": "a", "context": "not a list"}, "context"),
        ({"text": "a", "context": [1]}, "context.0"),
        ({"text": "a", "policy": "x"}, "policy"),
    ],
)
def test_guardrails_check_is_typed(base: str, body: dict[str, Any], param: str) -> None:
    assert_error(httpx.post(base + "/v1/guardrails/check", json=body, timeout=30), 400, param=param)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": ["a"]}, "query"),
        ({"query": "a", "k": "3"}, "k"),
        ({"query": "a", "document_ids": "1"}, "document_ids"),
        ({"query": "a", "source_prefix": 5}, "source_prefix"),
        # Found by the fuzzer: an id past SQLite's 64-bit integers was a 500.
        ({"query": "a", "document_ids": [2**64]}, "document_ids.0"),
        ({"query": "a", "document_ids": list(range(1001))}, "document_ids"),
    ],
)
def test_search_is_typed(base: str, body: dict[str, Any], param: str) -> None:
    assert_error(httpx.post(base + "/v1/search", json=body, timeout=30), 400, param=param)


def test_json_body_is_valid_json_in_error(base: str) -> None:
    resp = httpx.post(base + "/v1/batches", content=b'{"input_file_id": ', timeout=30)
    assert json.loads(resp.text)["error"]["code"] == "invalid_json"
