"""The remote embedder's throughput with 1 vs N requests in flight, side by side in one run:

    .venv/bin/python bench/bench_remote_embed.py [--texts 2048] [--batch 32]
        [--delays-ms 0,20] [--in-flight 1,4] [--encodings float,base64] [--json out.json]

Each delay gets its own fake embedding server (bench/fake_embed_server.py, a separate
process, as a real one would be) that answers each request after that many milliseconds: a
stand-in for the model's time per batch on TEI/vLLM, which is what concurrency hides. Every
configuration embeds the same number of fresh texts (~300 characters, unique per pass, so the
server's vector memo never helps) through `OpenAIEmbedder.embed` in one call, as ingest does.
Configurations run in alternating order twice and the faster pass counts (the box is shared).
Reported: embeddings/s, requests/s and the speed-up over the first in-flight limit at the
same delay and encoding."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from _common import BENCH, print_table, write_json

from lockgate.config import EmbeddingSpec
from lockgate.models.openai_embed import OpenAIEmbedder

_WORDS = (
    "invoice refund warehouse policy customer shipment contract renewal audit ledger "
    "pricing discount region support ticket escalation quarterly review account owner"
).split()


def texts(n: int, tag: str) -> list[str]:
    out = []
    for i in range(n):
        words = [_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(40)]
        out.append(f"{tag}-{i}: " + " ".join(words))
    return out


@contextmanager
def server(delay_ms: float, dim: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "fake_embed_server.py"),
            "--dim",
            str(dim),
            "--delay-ms",
            str(delay_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"fake embedding server did not start: {url!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def run_once(url: str, cfg: dict[str, Any], n: int, batch: int, tag: str) -> dict[str, float]:
    spec = EmbeddingSpec(
        backend="openai",
        base_url=url,
        upstream_model="fake",
        batch_size=batch,
        max_in_flight=cfg["in_flight"],
        encoding_format=cfg["encoding"],
    )
    emb = OpenAIEmbedder(spec)
    try:
        emb.embed(["warm the connection"])
        batch_texts = texts(n, tag)
        t0 = time.perf_counter()
        vecs = emb.embed(batch_texts)
        seconds = time.perf_counter() - t0
    finally:
        emb.close()
    assert vecs.shape[0] == n
    requests = -(-n // batch)
    return {"seconds": seconds, "emb_s": n / seconds, "req_s": requests / seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--delays-ms", default="0,20")
    ap.add_argument("--in-flight", default="1,4")
    ap.add_argument("--encodings", default="float,base64")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    delays = [float(d) for d in args.delays_ms.split(",")]
    limits = [int(x) for x in args.in_flight.split(",")]
    encodings = args.encodings.split(",")

    results: list[dict[str, Any]] = []
    for delay in delays:
        with server(delay, args.dim) as url:
            configs = [{"in_flight": m, "encoding": e} for e in encodings for m in limits]
            best: dict[int, dict[str, float]] = {}
            for rep in range(2):
                order = list(range(len(configs)))
                if rep % 2:
                    order.reverse()
                for i in order:
                    got = run_once(url, configs[i], args.texts, args.batch, f"p{rep}c{i}")
                    if i not in best or got["emb_s"] > best[i]["emb_s"]:
                        best[i] = got
            for i, cfg in enumerate(configs):
                base = next(
                    best[j]
                    for j, c in enumerate(configs)
                    if c["encoding"] == cfg["encoding"] and c["in_flight"] == limits[0]
                )
                results.append(
                    {
                        "delay_ms": delay,
                        **cfg,
                        **{k: round(v, 3) for k, v in best[i].items()},
                        "speedup": round(best[i]["emb_s"] / base["emb_s"], 2),
                    }
                )

    print_table(
        f"Remote embedder, {args.texts} texts in batches of {args.batch}, dim {args.dim}",
        ["delay ms", "encoding", "in flight", "embeddings/s", "requests/s", "seconds", "speed-up"],
        [
            [
                r["delay_ms"],
                r["encoding"],
                r["in_flight"],
                r["emb_s"],
                r["req_s"],
                r["seconds"],
                r["speedup"],
            ]
            for r in results
        ],
    )
    write_json(args.json, {"config": vars(args), "results": results})


if __name__ == "__main__":
    main()
