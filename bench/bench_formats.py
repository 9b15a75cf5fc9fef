"""Ingestion throughput by format (the issue-5 formats; OCR has its own bench_ocr.py).

    .venv/bin/python bench/bench_formats.py [--copies 10] [--json out.json]

For each format, `--copies` distinct files are made from the fixtures in
tests/support/formats.py (zip-based files get a unique zip comment, text-based ones a
unique run of trailing newlines, so every copy has its own hash and is really ingested)
and run through the product's `Ingestor` into a fresh SQLite store with the bundled MiniLM
embedder (loaded and warmed before the clock starts). Containers count their members:
an mbox copy is 2 documents (the mailbox and its PDF attachment), a zip copy 7 (the archive,
5 members, 1 nested member; 2 members are quarantined on purpose, and members identical
across copies are recorded as duplicates, as they would be in real data).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from _common import print_table, temp_home, write_json

from lockgate.config import Settings
from lockgate.ingest.pipeline import Ingestor
from lockgate.services import Services
from tests.support.formats import FORMAT_SAMPLES


def distinct(data: bytes, i: int) -> bytes:
    """The same document under a new hash."""
    if data.startswith(b"PK") and data[-22:-18] == b"PK\x05\x06":
        # Give the archive a comment in its end record (every member, damaged or not, kept).
        comment = f"copy {i}".encode()
        return data[:-2] + len(comment).to_bytes(2, "little") + comment
    return data + b"\n" * (i + 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--formats", default=",".join(FORMAT_SAMPLES))
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    results: list[dict[str, Any]] = []
    with temp_home() as tmp:
        services = Services(Settings(home=tmp / "home"))
        services.embedder.embed(["warm up"])
        for fmt in args.formats.split(","):
            name, make = FORMAT_SAMPLES[fmt]
            base = make()
            folder = tmp / "corpus" / fmt
            folder.mkdir(parents=True)
            stem, ext = name.rsplit(".", 1)
            size = 0
            for i in range(args.copies):
                data = distinct(base, i)
                size += len(data)
                (folder / f"{stem}-{i}.{ext}").write_bytes(data)
            ingestor = Ingestor(services.documents, services.runs, services.embedder,
                                services.settings.ingest)
            t0 = time.perf_counter()
            summary = ingestor.run([str(folder)])
            secs = time.perf_counter() - t0
            results.append({
                "format": fmt,
                "files": args.copies,
                "documents": summary.new,
                "duplicates": summary.duplicates,  # identical members across copies
                "quarantined": summary.quarantined,
                "chunks": summary.chunks,
                "bytes": size,
                "seconds": round(secs, 3),
                "files_per_s": round(args.copies / secs, 2),
                "chunks_per_s": round(summary.chunks / secs, 1),
                "kb_per_s": round(size / 1024 / secs, 1),
                # Parsing is what differs by format; embedding dominates the rest.
                "parse_ms_per_file": round(summary.stages_ms.get("parse", 0.0) / args.copies, 1),
                "stages_ms": summary.stages_ms,
            })
    print_table(
        f"Ingestion throughput by format ({args.copies} files each, MiniLM, SQLite)",
        ["format", "parse ms/file", "files/s", "docs", "dups", "quarantined", "chunks",
         "chunks/s", "KB/s"],
        [[r["format"], r["parse_ms_per_file"], r["files_per_s"], r["documents"],
          r["duplicates"], r["quarantined"], r["chunks"],
          r["chunks_per_s"], r["kb_per_s"]] for r in results],
    )
    write_json(args.json, {"copies": args.copies, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
