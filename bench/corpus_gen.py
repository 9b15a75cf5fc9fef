"""Write a deterministic synthetic corpus of mixed-format documents for benchmarks.

Usage::

    python bench/corpus_gen.py OUT_DIR --pages 500 [--seed 0]
        [--formats txt,md,html,pdf,docx,csv,json] [--qa-out questions.jsonl]

A "page" is about 2,500-3,000 characters of text. Every page states one fact about a
unique codename; ``--qa-out`` writes one question per page with its answer, file and
page number, so ingestion + retrieval can be scored end to end at any scale.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import random
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docx
from fpdf import FPDF

try:
    from bench.synth_text import TEAMS, Fact, TextSynth, fact_for
except ModuleNotFoundError:  # run as a script: bench/ itself is on sys.path
    from synth_text import TEAMS, Fact, TextSynth, fact_for

ALL_FORMATS = ("txt", "md", "html", "pdf", "docx", "csv", "json")
# Share of files per format and (min, max) pages per file: PDFs and docx are the long ones.
WEIGHTS = {"txt": 10, "md": 15, "html": 15, "pdf": 25, "docx": 15, "csv": 10, "json": 10}
PAGE_RANGE = {"txt": (1, 3), "md": (1, 3), "html": (1, 2), "pdf": (2, 8), "docx": (1, 5),
              "csv": (1, 3), "json": (1, 2)}
PAGE_CHARS = (2_500, 3_000)
FIXED_DATE = datetime(2025, 1, 1, tzinfo=UTC)
ZIP_DATE = (2025, 1, 1, 0, 0, 0)


@dataclass
class Page:
    heading: str
    paragraphs: list[str]
    fact: Fact


@dataclass
class Doc:
    title: str
    topic: str
    pages: list[Page] = field(default_factory=list)


@dataclass
class Stats:
    files: int = 0
    pages: int = 0
    bytes: int = 0


def make_doc(synth: TextSynth, n_pages: int, first_page: int, seed: int) -> Doc:
    topic = synth.topic()
    doc = Doc(synth.title(topic), topic)
    for p in range(n_pages):
        target = synth.rng.randint(*PAGE_CHARS)
        fact = fact_for(first_page + p, seed)
        second = synth.topic()
        paragraphs = []
        size = 0
        while size < target - 400:
            paragraph = synth.paragraph(topic, synth.rng.randint(350, 700), second)
            paragraphs.append(paragraph)
            size += len(paragraph)
        # Facts go mid-page so retrieval has to find them inside running text.
        where = synth.rng.randrange(len(paragraphs))
        paragraphs[where] = f"{paragraphs[where]} {fact.sentence()}"
        doc.pages.append(Page(synth.title(topic), paragraphs, fact))
    return doc


# ---- writers: each returns the file's bytes -------------------------------------------


def to_txt(doc: Doc) -> bytes:
    parts = [doc.title.upper(), ""]
    for page in doc.pages:
        parts += [page.heading, "", *(p + "\n" for p in page.paragraphs)]
    return "\n".join(parts).encode()


def to_md(doc: Doc) -> bytes:
    parts = [f"# {doc.title}", ""]
    for page in doc.pages:
        parts += [f"## {page.heading}", ""]
        for i, paragraph in enumerate(page.paragraphs):
            if i == 1:
                # A bullet list per page so markdown parsers see more than paragraphs.
                sentences = paragraph.split(". ")
                parts += [f"- {s.rstrip('.')}." for s in sentences] + [""]
            else:
                parts += [paragraph, ""]
    return "\n".join(parts).encode()


def to_html(doc: Doc) -> bytes:
    body = []
    for page in doc.pages:
        body.append(f"<section><h2>{html.escape(page.heading)}</h2>")
        body += [f"<p>{html.escape(p)}</p>" for p in page.paragraphs]
        body.append("</section>")
    text = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(doc.title)}</title></head><body>"
        '<nav><a href="/">Home</a> | <a href="/docs">Docs</a> | <a href="/help">Help</a></nav>'
        f"<main><h1>{html.escape(doc.title)}</h1>{''.join(body)}</main>"
        "<footer>Internal use only. Generated corpus.</footer></body></html>"
    )
    return text.encode()


def to_pdf(doc: Doc) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(doc.title)
    pdf.set_auto_page_break(auto=True, margin=15)
    for i, page in enumerate(doc.pages):
        pdf.add_page()
        if i == 0:
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(0, 9, doc.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 7, page.heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for paragraph in page.paragraphs:
            pdf.multi_cell(0, 5, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output())


def _fixed_zip(data: bytes) -> bytes:
    """python-docx stamps zip entries with the current time; pin them for determinism."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def to_docx(doc: Doc) -> bytes:
    document = docx.Document()
    document.core_properties.created = FIXED_DATE.replace(tzinfo=None)
    document.core_properties.modified = FIXED_DATE.replace(tzinfo=None)
    document.core_properties.title = doc.title
    document.add_heading(doc.title, level=1)
    for i, page in enumerate(doc.pages):
        if i:
            document.add_page_break()
        document.add_heading(page.heading, level=2)
        for paragraph in page.paragraphs:
            document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue())


def _records(doc: Doc, rng: random.Random) -> list[dict[str, object]]:
    # Tabular formats carry the same facts as rows plus a prose note column.
    rows = []
    for page in doc.pages:
        fact = page.fact
        notes = " ".join(page.paragraphs).split(". ")
        rows.append({"name": fact.name, "kind": fact.kind, "attribute": fact.attribute,
                     "value": fact.value, "unit": fact.unit, "topic": doc.topic,
                     "owner": rng.choice(TEAMS), "note": notes[0].rstrip(".") + "."})
        for note in notes[1:]:
            rows.append({"name": "", "kind": "", "attribute": "", "value": "", "unit": "",
                         "topic": doc.topic, "owner": rng.choice(TEAMS),
                         "note": note.rstrip(".") + "."})
    return rows


def to_csv(doc: Doc, rng: random.Random) -> bytes:
    rows = _records(doc, rng)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def to_json(doc: Doc, rng: random.Random) -> bytes:
    payload = {"title": doc.title, "topic": doc.topic,
               "sections": [{"heading": page.heading, "paragraphs": page.paragraphs,
                             "facts": [r for r in _records(Doc("", doc.topic, [page]), rng)
                                       if r["name"]]}
                            for page in doc.pages]}
    return json.dumps(payload, indent=2).encode()


def render(fmt: str, doc: Doc, rng: random.Random) -> bytes:
    writers: dict[str, Callable[[], bytes]] = {
        "txt": lambda: to_txt(doc), "md": lambda: to_md(doc), "html": lambda: to_html(doc),
        "pdf": lambda: to_pdf(doc), "docx": lambda: to_docx(doc),
        "csv": lambda: to_csv(doc, rng), "json": lambda: to_json(doc, rng),
    }
    return writers[fmt]()


def generate(out_dir: Path, pages: int, seed: int = 0,
             formats: tuple[str, ...] = ALL_FORMATS, qa_out: Path | None = None,
             ) -> dict[str, Stats]:
    synth = TextSynth(seed)
    rng = synth.rng
    weights = [WEIGHTS[f] for f in formats]
    stats = {f: Stats() for f in formats}
    qa_lines = []
    done = 0
    while done < pages:
        fmt = rng.choices(formats, weights)[0]
        low, high = PAGE_RANGE[fmt]
        n_pages = min(rng.randint(low, high), pages - done)
        doc = make_doc(synth, n_pages, done, seed)
        index = sum(s.files for s in stats.values())
        rel = Path(doc.topic) / f"{doc.pages[0].fact.name.lower()}-{index:05d}.{fmt}"
        data = render(fmt, doc, rng)
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_bytes(data)
        for number, page in enumerate(doc.pages, 1):
            qa_lines.append(json.dumps({"question": page.fact.question(done + number),
                                        "answer": page.fact.answer, "source": rel.as_posix(),
                                        "page": number if fmt == "pdf" else None}))
        stats[fmt].files += 1
        stats[fmt].pages += n_pages
        stats[fmt].bytes += len(data)
        done += n_pages
    if qa_out is not None:
        qa_out.write_text("\n".join(qa_lines) + "\n")
    return stats


def _parse_formats(value: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in value.split(",") if f.strip())
    unknown = sorted(set(formats) - set(ALL_FORMATS))
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"unknown formats {unknown}; choose from {ALL_FORMATS}")
    return formats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--pages", type=int, required=True, help="approximate total pages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", type=_parse_formats, default=ALL_FORMATS,
                        help="comma-separated subset of " + ",".join(ALL_FORMATS))
    parser.add_argument("--qa-out", type=Path, default=None,
                        help="write one question per page as JSONL (keep it outside OUT_DIR)")
    args = parser.parse_args(argv)
    if args.pages < 1:
        parser.error("--pages must be >= 1")

    started = time.perf_counter()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stats = generate(args.out_dir, args.pages, args.seed, args.formats, args.qa_out)
    elapsed = time.perf_counter() - started

    print(f"{'format':<8}{'files':>8}{'pages':>8}{'KiB':>10}")
    for fmt, s in stats.items():
        print(f"{fmt:<8}{s.files:>8}{s.pages:>8}{s.bytes / 1024:>10.0f}")
    total = Stats(sum(s.files for s in stats.values()), sum(s.pages for s in stats.values()),
                  sum(s.bytes for s in stats.values()))
    print(f"{'total':<8}{total.files:>8}{total.pages:>8}{total.bytes / 1024:>10.0f}")
    print(f"wrote {args.out_dir} in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
