"""OCR speed and word accuracy on scans rendered from known text.

    .venv/bin/python bench/bench_ocr.py [--pages 4] [--dpi 150] [--skew 2] [--threads N]
                                        [--json out.json]

Each page is ~2,400 characters of seeded synthetic business prose (bench/synth_text.py,
with its unique codenames, so a dictionary cannot guess them) typeset by fpdf2 in 11 pt
Helvetica, rendered by pdfium at `--dpi`, JPEG-compressed into an image-only PDF (what
scanners produce), optionally rotated by `--skew` degrees. Each page then goes through the
product's real path: `parse_bytes` -> PdfParser -> pdfium render -> rapidocr -> layout.

Word accuracy = share of the expected words reproduced in order (LCS alignment over
lower-cased word lists, tests/support/scans.py:word_accuracy). Target on clean 150-dpi
renders: >= 95%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from _common import print_table, write_json

from lockgate.config import OcrConfig
from lockgate.ingest.ocr import _engine
from lockgate.ingest.parsers import parse_bytes
from lockgate.ingest.types import ParseOptions

try:
    from bench.synth_text import synthetic_chunks
except ModuleNotFoundError:
    from synth_text import synthetic_chunks
from tests.support.scans import scanned_pdf, word_accuracy

TARGET_ACCURACY = 0.95


def pages_text(n: int, seed: int) -> list[list[str]]:
    chunks = synthetic_chunks(3 * n, seed=seed, chars=800)
    return [chunks[3 * i : 3 * i + 3] for i in range(n)]


def run_variant(name: str, pages: list[list[str]], dpi: int, skew: float,
                threads: int | None) -> dict[str, Any]:
    options = ParseOptions(ocr=OcrConfig(dpi=dpi, threads=threads))
    times, accs, confs, chars = [], [], [], 0
    for paragraphs in pages:
        pdf = scanned_pdf([paragraphs], dpi=dpi, rotate=skew)
        t0 = time.perf_counter()
        doc = parse_bytes(pdf, "scan.pdf", options)
        times.append(time.perf_counter() - t0)
        accs.append(word_accuracy(" ".join(paragraphs), doc.text))
        confs.append(doc.ocr_pages[0].confidence)
        chars += sum(len(p) for p in paragraphs)
    total = sum(times)
    return {
        "variant": name,
        "dpi": dpi,
        "skew_deg": skew,
        "pages": len(pages),
        "chars_per_page": round(chars / len(pages)),
        "seconds": round(total, 2),
        "pages_per_s": round(len(pages) / total, 4),
        "s_per_page_median": round(statistics.median(times), 2),
        "word_accuracy_mean": round(statistics.mean(accs), 4),
        "word_accuracy_min": round(min(accs), 4),
        "ocr_confidence_mean": round(statistics.mean(confs), 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=4)
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--skew", type=float, default=2.0, help="degrees for the skewed variant")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    pages = pages_text(args.pages, args.seed)
    t0 = time.perf_counter()
    _engine(args.threads)  # model load is a one-off per process, not per page
    load_s = time.perf_counter() - t0
    results = [
        run_variant("clean", pages, args.dpi, 0.0, args.threads),
        run_variant(f"skew {args.skew:g} deg", pages, args.dpi, args.skew, args.threads),
    ]
    print_table(
        f"OCR on rendered scans ({args.pages} pages per variant, engine load {load_s:.2f} s)",
        ["variant", "dpi", "pages/s", "s/page p50", "word acc", "min acc", "confidence"],
        [
            [r["variant"], r["dpi"], r["pages_per_s"], r["s_per_page_median"],
             r["word_accuracy_mean"], r["word_accuracy_min"], r["ocr_confidence_mean"]]
            for r in results
        ],
    )
    clean = results[0]["word_accuracy_mean"]
    verdict = "PASS" if clean >= TARGET_ACCURACY else "FAIL"
    print(f"\nclean {args.dpi}-dpi word accuracy {clean:.2%} (target >= 95%): {verdict}")
    write_json(args.json, {"engine_load_s": round(load_s, 2), "results": results,
                           "target_word_accuracy": TARGET_ACCURACY, "verdict": verdict})
    return 0


if __name__ == "__main__":
    sys.exit(main())
