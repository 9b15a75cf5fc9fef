"""Long PDF manuals for the answer benchmark, rendered from this machine's man pages.

    .venv/bin/python bench/manuals.py OUT_DIR     # write the PDFs and print their page counts

Each manual is `man <page>` as plain text laid out by fpdf2 on A4 pages (section headings in
bold), so the ingest path is the real PDF one (text per page, page numbers on citations).
`bench/data/manuals.jsonl` holds the questions (paraphrased, one expected fact each, a
dev/test tag: tune on dev, report test). A question whose fact is not in this machine's man
page (another version) is left out and reported, never counted as wrong."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fpdf import FPDF

DATA = Path(__file__).resolve().parent / "data" / "manuals.jsonl"
MANUALS = {
    "ssh-client-manual.pdf": "ssh_config",
    "wget-manual.pdf": "wget",
    "gzip-manual.pdf": "gzip",
    "tar-manual.pdf": "tar",
}
_HEADING = re.compile(r"^[A-Z][A-Z0-9 ,/()-]{2,}$")


def man_text(page: str) -> str | None:
    env = {**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": "0"}
    try:
        out = subprocess.run(["man", "--nh", "--nj", "-P", "cat", page], capture_output=True,
                             text=True, env=env, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    # Overstrike (bold/underline) sequences, as `col -b` removes them.
    return re.sub(r".\x08", "", out).expandtabs(8)


def render_pdf(text: str, path: Path, title: str) -> int:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(title)
    pdf.add_page()
    for raw in text.splitlines():
        line = raw.rstrip().encode("latin-1", "replace").decode("latin-1")
        if _HEADING.match(line.strip()) and not raw.startswith(" "):
            pdf.set_font("Helvetica", "B", 11)
            pdf.ln(2)
        else:
            pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 4.2, line or " ", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return pdf.page_no()


def texts() -> dict[str, str]:
    """The text of each manual this machine has, by PDF name."""
    out = {name: man_text(page) for name, page in MANUALS.items()}
    return {name: text for name, text in out.items() if text}


def build(out_dir: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Write the PDFs; (pages per file, text per file) for the manuals this machine has."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pages: dict[str, int] = {}
    texts: dict[str, str] = {}
    for name, page in MANUALS.items():
        text = man_text(page)
        if not text:
            continue
        pages[name] = render_pdf(text, out_dir / name, f"{page} manual")
        texts[name] = text
    return pages, texts


def cases(texts: dict[str, str], split: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The dataset rows of `split` ("dev", "test" or None: all) whose manual was rendered and
    whose fact is in it; and the ids left out."""
    kept: list[dict[str, Any]] = []
    skipped: list[str] = []
    flat = {n: " ".join(t.split()).lower() for n, t in texts.items()}
    for line in DATA.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if split is not None and split not in row["tags"]:
            continue
        sources = row.get("expected_sources") or []
        if any(s not in flat or row["expected"].lower() not in flat[s] for s in sources):
            skipped.append(row["id"])
            continue
        kept.append(row)
    return kept, skipped


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "manuals")
    made, texts = build(target)
    rows, left_out = cases(texts, None)
    print(json.dumps({"pages": made, "cases": len(rows), "left_out": left_out}))
