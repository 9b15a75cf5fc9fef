"""Two real `lockgate serve` processes over one store, as two replicas behind a load balancer,
once per deployment shape (docs/scaling.md):

- `sqlite`: one SQLite file (WAL) on one host; rate limits in the store (`limits.store:
  sqlite`), the cache in the store, breakers through Redis;
- `postgresql`: one PostgreSQL database and Redis for every mechanism that has a Redis store
  (rate limits, budgets, cache, breakers).

Each test sends its requests to both processes and checks what one process did is what the
other sees: one rate limit for both, a cache entry made by one a hit in the other (exact and
semantic), a prompt label moved and a release promoted or rolled back from the command line
followed by both within their bounded TTLs, batch items each sent upstream exactly once by
the two batch workers, review claims from two processes never granted twice, a breaker
opened by one refusing in the other within `sync_interval_s`, and one audit chain over what
every process wrote."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from lockgate.config import load_settings
from lockgate.gateway.leader import lock_path
from lockgate.prompts.spec import PromptSpec
from lockgate.services import Services
from lockgate.store.reviews import ReviewRecord, new_review_id
from tests.support.fake_upstream import create_fake_upstream
from tests.support.redis_server import REDIS_URL, real_redis
from tests.support.replicas import STORES, Replicas, cli, eventually, shared_store
from tests.support.server import serve

LIMIT = 12  # requests a minute to the rate-limited model, one bucket for every caller
LABEL_TTL_S = 1.0  # grounded.prompt_cache_ttl_s
RELEASE_TTL_S = 1.0  # releases.cache_ttl_s
SEMANTIC_REFRESH_S = 1.0  # cache.semantic_refresh_s
SYNC_S = 0.25  # breakers.sync_interval_s
FAILURES = 3  # consecutive failures that open the flaky model's breaker
STAGED = PromptSpec(
    name="grounded_answer",
    template="STAGED PROMPT\n{{ sources }}\nQuestion: {{ question }}\nAnswer:",
    variables=["sources", "question"],
)


def _config(home: Path, upstream: str, store_url: str, prefix: str, kind: str) -> dict[str, Any]:
    redis_or = "redis" if kind == "postgresql" else None
    echo = {"backend": "openai", "base_url": upstream, "resilience": {"retries": 0}}
    return {
        "home": str(home),
        "store": {"url": store_url},
        "redis": {"url": REDIS_URL, "prefix": prefix},
        "limits": {
            "store": redis_or or "sqlite",
            "rules": [{"per": [], "model": "limited", "rpm": LIMIT}],
        },
        "budgets": {"store": redis_or or "sql"},
        "cache": {
            "store": redis_or or "sql",
            "semantic_models": ["cached"],
            "semantic_refresh_s": SEMANTIC_REFRESH_S,
        },
        "breakers": {"store": "redis", "sync_interval_s": SYNC_S},
        "guardrails": {"enabled": False},
        # Anonymous callers, and each process's own /metrics readable (which worker ran what).
        "auth": {"allow_anonymous": True, "public_metrics": True},
        "batch": {"poll_interval_s": 0.1, "lease_s": 5.0, "item_interval_s": 0.05},
        "releases": {"cache_ttl_s": RELEASE_TTL_S, "check_interval_s": 0},
        # Remote stand-ins for the embedded models, so each process starts in seconds.
        "embeddings": {"backend": "openai", "base_url": upstream, "upstream_model": "e"},
        "grounded": {"model": "echo", "prompt_cache_ttl_s": LABEL_TTL_S},
        "models": {
            "gemma-3-270m": None,
            "echo": echo,
            "echo-next": echo,
            "limited": echo,
            "cached": echo,
            "flaky": {
                "backend": "openai",
                "base_url": upstream,
                "upstream_model": "fail-500",
                "resilience": {
                    "retries": 0,
                    "breaker": {"failures": FAILURES, "window_s": 60, "cooldown_s": 120},
                },
            },
        },
    }


@dataclass
class Deployment:
    kind: str
    a: str
    b: str
    config: Path
    services: Services  # this test process's own view of the same store
    calls: list[dict[str, Any]]  # every request the upstream received
    pids: list[int]

    def upstream_calls(self, model: str, content: str | None = None) -> int:
        def last(body: dict[str, Any]) -> str:
            users = [m for m in body.get("messages", []) if m.get("role") == "user"]
            return str(users[-1].get("content", "")) if users else ""

        return sum(
            1
            for body in list(self.calls)
            if body.get("model") == model and (content is None or last(body) == content)
        )

    def trace(self, trace_id: str) -> Any:
        """The stored trace row of one request, once the event writer has written it."""

        def read() -> Any:
            with self.services.engine.connect() as conn:
                return conn.execute(
                    text(
                        "SELECT id, cache, release, prompt_version, prompt_label, status "
                        "FROM traces WHERE id = :i"
                    ),
                    {"i": trace_id},
                ).first()

        return eventually(read, 20)


@pytest.fixture(scope="module", params=STORES)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    kind = str(request.param)
    root = tmp_path_factory.mktemp(f"replicas-{kind}")
    app = create_fake_upstream()
    with (
        serve(app) as base,
        real_redis() as redis,
        shared_store(kind, root) as store_url,
    ):
        cfg = _config(root / "home", base + "/v1", store_url, redis.config.prefix, kind)
        config = root / "lockgate.yaml"
        config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        services = Services(load_settings(config))
        try:
            with Replicas(config, 2) as replicas:
                a, b = replicas.urls
                pids = [p.pid for p in replicas.procs]
                yield Deployment(kind, a, b, config, services, app.state.calls, pids)
        finally:
            services.engine.dispose()


def chat(base: str, model: str, content: str, **headers: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def trace_id(response: httpx.Response) -> str:
    return response.headers["x-lockgate-trace-id"]


# -- rate limits ------------------------------------------------------------------------------


def test_one_rate_limit_for_both_processes(deployment: Deployment) -> None:
    d = deployment
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda i: chat(d.a if i % 2 else d.b, "limited", f"limited {i}").status_code,
                range(4 * LIMIT),
            )
        )
    elapsed = time.monotonic() - started
    admitted = codes.count(200)
    assert set(codes) <= {200, 429}, codes
    # The bucket holds LIMIT and refills LIMIT a minute: what both processes together
    # admitted is the bucket plus the refill while the requests ran. Two buckets (one per
    # process) would have admitted twice as many.
    refill = int(elapsed * LIMIT / 60) + 1
    assert LIMIT <= admitted <= LIMIT + refill, (admitted, elapsed)
    assert d.upstream_calls("limited") == admitted


# -- cache ------------------------------------------------------------------------------------


def test_an_answer_cached_by_one_process_is_an_exact_hit_in_the_other(
    deployment: Deployment,
) -> None:
    d = deployment
    question = f"which port does the exact cache test use ({d.kind})"
    first = chat(d.a, "cached", question)
    assert first.status_code == 200, first.text
    assert d.upstream_calls("cached", question) == 1
    d.trace(trace_id(first))  # stored: the entry was written with the answer

    second = chat(d.b, "cached", question)
    assert second.status_code == 200, second.text
    assert second.json()["choices"] == first.json()["choices"]
    assert d.upstream_calls("cached", question) == 1  # B never asked the upstream
    assert json.loads(d.trace(trace_id(second)).cache)["kind"] == "exact"


def test_a_paraphrase_cached_by_one_process_is_a_semantic_hit_in_the_other(
    deployment: Deployment,
) -> None:
    d = deployment
    # B looks at the scope first, so its in-process index holds the scope without A's
    # entry: the entry reaches B through the reload every `semantic_refresh_s`.
    warm = chat(d.b, "cached", f"what colour are the {d.kind} replicas painted")
    assert warm.status_code == 200
    asked = f"how do i rotate the {d.kind} signing keys"
    first = chat(d.a, "cached", asked)
    assert first.status_code == 200
    d.trace(trace_id(first))
    time.sleep(SEMANTIC_REFRESH_S)  # B's copy of the scope is now stale: the next lookup reloads

    paraphrase = f"how can i rotate the {d.kind} signing keys"
    hit = chat(d.b, "cached", paraphrase)
    assert json.loads(d.trace(trace_id(hit)).cache)["kind"] == "semantic"
    assert d.upstream_calls("cached", paraphrase) == 0
    assert hit.json()["choices"][0]["message"]["content"] == f"echo: {asked}"


# -- prompt labels and releases --------------------------------------------------------------


def _grounded(base: str, question: str) -> Any:
    return chat(base, "lockgate", question)


def test_a_label_moved_from_the_command_line_is_followed_by_both_within_its_ttl(
    deployment: Deployment,
) -> None:
    d = deployment
    store = d.services.prompt_store
    staged = store.push(STAGED.name, STAGED.hash, STAGED.canonical(), "dev").seq
    before = store.label_seq("grounded_answer", "production")
    assert staged != before
    for base in (d.a, d.b):
        r = _grounded(base, f"label before {base}")
        assert d.trace(trace_id(r)).prompt_version == before, r.text

    moved = cli(d.config, "prompts", "label", "grounded_answer", "production", str(staged))
    assert moved.returncode == 0, moved.stderr
    time.sleep(LABEL_TTL_S)
    # Past the TTL, the next request of each process answers with the moved label.
    for base in (d.a, d.b):
        r = _grounded(base, f"label after {base}")
        row = d.trace(trace_id(r))
        assert (row.prompt_version, row.prompt_label) == (staged, "production"), r.text

    back = cli(d.config, "prompts", "rollback", "grounded_answer")
    assert back.returncode == 0, back.stderr
    time.sleep(LABEL_TTL_S)
    for base in (d.a, d.b):
        r = _grounded(base, f"label rolled back {base}")
        assert d.trace(trace_id(r)).prompt_version == before, r.text


def _served_release(d: Deployment, base: str, content: str) -> str | None:
    r = chat(base, "echo", content)
    assert r.status_code == 200, r.text
    return d.trace(trace_id(r)).release


def test_a_release_change_is_served_by_both_within_the_cache_ttl(deployment: Deployment) -> None:
    d = deployment
    name = f"r-{d.kind}"
    for base in (d.a, d.b):
        assert _served_release(d, base, f"no release yet {base}") is None
    made = cli(d.config, "release", "create", name, "--alias", "echo=echo-next")
    assert made.returncode == 0, made.stderr
    promoted = cli(d.config, "release", "promote", name, "--full")
    assert promoted.returncode == 0, promoted.stderr
    time.sleep(RELEASE_TTL_S)
    for base in (d.a, d.b):
        assert _served_release(d, base, f"full {base}") == name
    assert d.upstream_calls("echo-next") >= 2  # the alias is what went upstream

    rolled = cli(d.config, "release", "rollback", name, "--reason", "test")
    assert rolled.returncode == 0, rolled.stderr
    time.sleep(RELEASE_TTL_S)
    for base in (d.a, d.b):
        assert _served_release(d, base, f"rolled back {base}") is None


# -- batch ------------------------------------------------------------------------------------


def _submit_batch(base: str, tag: str, n: int) -> str:
    lines = "\n".join(
        json.dumps(
            {
                "custom_id": f"{tag}-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "echo", "messages": [{"role": "user", "content": f"{tag}-{i}"}]},
            }
        )
        for i in range(n)
    )
    f = httpx.post(
        base + "/v1/files",
        files={"file": ("in.jsonl", lines.encode())},
        data={"purpose": "batch"},
        timeout=30,
    )
    assert f.status_code == 200, f.text
    b = httpx.post(
        base + "/v1/batches",
        json={
            "input_file_id": f.json()["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
        timeout=30,
    )
    assert b.status_code == 200, b.text
    return str(b.json()["id"])


def _batch_items_done(base: str) -> float:
    """This process's own count of batch items it ran (each process has its own metrics)."""
    r = httpx.get(base + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    body = r.text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("lockgate_batch_items_total{")
    )


def test_two_batch_workers_send_every_item_upstream_exactly_once(deployment: Deployment) -> None:
    d = deployment
    done_before = [_batch_items_done(base) for base in (d.a, d.b)]
    batches, per_batch = 6, 8
    tag = f"bx-{d.kind}"
    ids = [_submit_batch(d.a if i % 2 else d.b, f"{tag}{i}", per_batch) for i in range(batches)]

    def all_done() -> bool:
        states = [httpx.get(f"{d.a}/v1/batches/{bid}", timeout=10).json()["status"] for bid in ids]
        return all(s == "completed" for s in states)

    eventually(all_done, 120, every_s=0.3)
    for i in range(batches):
        for j in range(per_batch):
            item = f"{tag}{i}-{j}"
            assert d.upstream_calls("echo", item) == 1, item
        stats = d.services.batches.item_stats(ids[i])
        assert {s["status"] for s in stats.values()} == {"completed"}
        assert {s["attempts"] for s in stats.values()} == {1}
    done = [_batch_items_done(base) - n for base, n in zip((d.a, d.b), done_before, strict=True)]
    assert sum(done) == batches * per_batch
    assert all(n > 0 for n in done), done  # both workers took part


# -- review queue -----------------------------------------------------------------------------


def _review_items(d: Deployment, tenant: str, n: int) -> list[str]:
    return [
        d.services.review_store.add(
            ReviewRecord(
                id=new_review_id(),
                tenant=tenant,
                principal="carol",
                kind="groundedness",
                mode="hold",
                question=f"question {i}",
                answer=f"answer {i}",
            )
        ).id
        for i in range(n)
    ]


def _reviewers(d: Deployment, tenant: str) -> dict[str, tuple[str, str]]:
    """Two reviewers of one tenant, alice on process A and bob on process B: name ->
    (base URL, API key)."""
    keys = d.services.api_keys
    return {
        "alice": (d.a, keys.create("alice", tenant, ["reviewer"])[1]),
        "bob": (d.b, keys.create("bob", tenant, ["reviewer"])[1]),
    }


def test_two_reviewers_in_two_processes_never_hold_the_same_item(deployment: Deployment) -> None:
    d = deployment
    tenant = f"acme-{d.kind}"
    items = _review_items(d, tenant, 30)
    won: dict[str, list[str]] = {}
    lock = threading.Lock()
    go = threading.Barrier(2)

    def reviewer(name: str, base: str, key: str) -> None:
        headers = {"authorization": f"Bearer {key}"}
        with httpx.Client(headers=headers, timeout=30) as client:
            go.wait()
            for item in items:  # both walk the queue in the same order: every claim races
                r = client.post(f"{base}/v1/reviews/{item}/claim")
                assert r.status_code in (200, 409), r.text
                if r.status_code == 200:
                    assert r.json()["claimed_by"] == name
                    with lock:
                        won.setdefault(item, []).append(name)
                    done = client.post(f"{base}/v1/reviews/{item}/approve", json={})
                    assert done.status_code == 200, done.text

    with ThreadPoolExecutor(2) as pool:
        running = [
            pool.submit(reviewer, name, base, key)
            for name, (base, key) in _reviewers(d, tenant).items()
        ]
        for f in running:
            f.result(timeout=120)
    assert sorted(won) == sorted(items)  # every item claimed ...
    assert all(len(who) == 1 for who in won.values()), won  # ... by exactly one reviewer
    for item in items:
        rec = d.services.review_store.get(item, tenant)
        assert rec is not None and rec.status == "approved"
        assert [rec.decided_by] == won[item]


# -- breakers ---------------------------------------------------------------------------------


def test_a_breaker_opened_by_one_process_refuses_in_the_other(deployment: Deployment) -> None:
    """B has never called the model: it still follows the opening, on its next sync."""
    d = deployment
    for i in range(FAILURES):
        r = chat(d.a, "flaky", f"flaky {i}")
        assert r.status_code >= 500, r.text
    sent = d.upstream_calls("fail-500")
    assert sent == FAILURES
    opened = chat(d.a, "flaky", "flaky after opening")
    assert opened.json()["error"]["code"] == "upstream_unavailable", opened.text
    # One sync interval (and a little for a busy box): B has read the opening.
    time.sleep(SYNC_S * 1.5)
    refused = chat(d.b, "flaky", "flaky in b")
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "upstream_unavailable", refused.text
    assert d.upstream_calls("fail-500") == sent  # nothing more reached the upstream


# -- scheduled jobs ---------------------------------------------------------------------------


def test_one_process_of_the_deployment_runs_the_scheduled_jobs(deployment: Deployment) -> None:
    """On SQLite the lock file in the shared home; on PostgreSQL an advisory lock in the
    store, which replicas on other hosts (other homes) compete for too."""
    d = deployment
    if d.kind == "sqlite":
        holder = eventually(lambda: lock_path(d.services.settings.home).read_text().strip(), 10)
        assert int(holder) in d.pids
        return

    def holders() -> int:
        with d.services.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database())"
                    )
                ).scalar_one()
            )

    assert eventually(holders, 10) == 1
    assert not lock_path(d.services.settings.home).exists()


# -- audit ------------------------------------------------------------------------------------


def test_one_audit_chain_over_every_process(deployment: Deployment) -> None:
    """Both gateways append at once (review decisions, each process its own) next to the
    command line (a label move): one chain, no fork, that verifies."""
    d = deployment
    tenant = f"audit-{d.kind}"
    items = _review_items(d, tenant, 20)
    before = len(d.services.audit.entries())

    def decide(base: str, key: str, mine: list[str]) -> None:
        with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
            for item in mine:
                r = client.post(f"{base}/v1/reviews/{item}/approve", json={})
                assert r.status_code == 200, r.text

    reviewers = list(_reviewers(d, tenant).values())
    staged = d.services.prompt_store.push(STAGED.name, STAGED.hash, STAGED.canonical()).seq
    with ThreadPoolExecutor(3) as pool:
        running = [
            pool.submit(decide, base, key, items[n::2]) for n, (base, key) in enumerate(reviewers)
        ]
        moved = pool.submit(
            cli, d.config, "prompts", "label", "grounded_answer", "audit-test", str(staged)
        )
        for f in running:
            f.result(timeout=120)
        assert moved.result().returncode == 0, moved.result().stderr

    def written() -> list[dict[str, Any]] | None:
        entries = d.services.audit.entries(after_seq=0)
        decided = [e for e in entries[before:] if e["kind"] == "review.decided"]
        return entries if len(decided) == len(items) else None

    entries = eventually(written, 30, every_s=0.2)  # the event writers are asynchronous
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert any(e["kind"] == "prompt.label" for e in entries[before:])
    result = cli(d.config, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
