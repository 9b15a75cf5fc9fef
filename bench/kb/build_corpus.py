"""Build the knowledge-base benchmark corpus from this machine's manual pages.

    .venv/bin/python bench/kb/build_corpus.py OUT_DIR [--check | --write-manifest]

Selection (a rule, not a hand pick, so the corpus has the distractors a real one has):
every regular file `/usr/share/man/man{1,5,8}/*.gz` of at least 6 KiB compressed, except
the thousands of generated `gcloud_*` pages; pages whose decompressed roff is identical to
an earlier one (alphabetically) are left out. Each page is rendered by `man` (no
hyphenation, no justification, 100 columns) and written as Markdown: the title is the NAME
line ("rsync - a fast, versatile, local/remote file-copying tool"), top-level sections
become `##` headings and indented sub-headings `###`, so the ingest pipeline sees long
multi-section documents the way it sees policy manuals. A page longer than 16,000
characters keeps its first sections: it is cut at the last heading before that length
(at the last paragraph break when no heading lies in the second half).

The document id is the page's file name without `.gz` (`rsync.1`, `systemd.exec.5`); the
file written is `OUT_DIR/<id>.md`. `bench/data/kb/manifest.json` records, per id, the
sha256 of the source `.gz` and of the Markdown written; `--check` fails when this machine
would build a different corpus (another package set or `man` version).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

MAN_ROOT = Path("/usr/share/man")
SECTIONS = ("man1", "man5", "man8")
MIN_GZ_BYTES = 6144
# Two cores embed ~8 chunks/s: the whole of every page (8M characters) would take half an
# hour, so each page keeps its first sections, up to this many characters.
MAX_CHARS = 16000
MANIFEST = Path(__file__).resolve().parent.parent / "data" / "kb" / "manifest.json"

# Lines the Markdown scanner would read as structure (ATX heading, fence, quote, rule, setext
# underline, table row) are indented four spaces, which its patterns never match.
_RISKY = re.compile(r"^([#>`~=_|]|-{2,}\s*$|\*\s*\*)")


def selected_pages() -> list[Path]:
    pages: list[Path] = []
    seen: set[str] = set()
    candidates = sorted(
        p
        for s in SECTIONS
        for p in (MAN_ROOT / s).glob("*.gz")
        if p.is_file() and not p.is_symlink() and not p.name.startswith("gcloud")
    )
    for path in candidates:
        if path.stat().st_size < MIN_GZ_BYTES:
            continue
        digest = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        pages.append(path)
    return pages


def render(path: Path) -> str:
    env = {**os.environ, "MANWIDTH": "100", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    out = subprocess.run(
        ["man", "--nh", "--nj", "-l", str(path)],
        capture_output=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    plain = subprocess.run(
        ["col", "-bx"], input=out, capture_output=True, env=env, check=True, timeout=60
    ).stdout
    return plain.decode("utf-8", "replace")


def to_markdown(doc_id: str, rendered: str) -> str:
    lines = rendered.rstrip().split("\n")
    # First and last lines are the page's running header and footer.
    lines = lines[1:-1] if len(lines) > 2 else lines
    out: list[str] = []
    name_line: list[str] = []
    section = ""
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if stripped and indent == 0:
            section = stripped
            out.extend(["", f"## {stripped}", ""])
        elif stripped and indent == 3 and len(stripped) < 90:
            out.extend(["", f"### {stripped}", ""])
        elif not stripped:
            out.append("")
        else:
            if section == "NAME":
                name_line.append(stripped)
            out.append(("    " + stripped) if _RISKY.match(stripped) else stripped)
    title = " ".join(name_line).strip() or doc_id
    text = f"# {title}\n\n" + "\n".join(out).strip() + "\n"
    return cut(re.sub(r"\n{3,}", "\n\n", text), MAX_CHARS)


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[:limit]
    at = max(head.rfind("\n## "), head.rfind("\n### "))
    if at < limit // 2:
        at = head.rfind("\n\n")
    return head[: at if at > 0 else limit].rstrip() + "\n"


def build(out_dir: Path) -> dict[str, dict[str, object]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, object]] = {}
    for path in selected_pages():
        doc_id = path.name.removesuffix(".gz")
        md = to_markdown(doc_id, render(path))
        data = md.encode("utf-8")
        (out_dir / f"{doc_id}.md").write_bytes(data)
        manifest[doc_id] = {
            "source": str(path),
            "gz_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "md_sha256": hashlib.sha256(data).hexdigest(),
            "chars": len(md),
        }
    return manifest


def compare(
    built: dict[str, dict[str, object]], expected: dict[str, dict[str, object]]
) -> list[str]:
    problems = []
    for doc_id in sorted(set(expected) - set(built)):
        problems.append(f"missing here: {doc_id}")
    for doc_id in sorted(set(built) - set(expected)):
        problems.append(f"not in the manifest: {doc_id}")
    for doc_id in sorted(set(built) & set(expected)):
        for key in ("gz_sha256", "md_sha256"):
            if built[doc_id][key] != expected[doc_id][key]:
                problems.append(f"{doc_id}: {key} differs")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail if not the manifest's corpus")
    mode.add_argument("--write-manifest", action="store_true", help="record this corpus")
    args = ap.parse_args(argv)
    built = build(args.out_dir)
    chars = sum(int(str(m["chars"])) for m in built.values())
    print(f"{len(built)} documents, {chars:,} characters -> {args.out_dir}")
    if args.write_manifest:
        MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        MANIFEST.write_text(json.dumps(built, indent=1, sort_keys=True) + "\n")
        print(f"wrote {MANIFEST}")
    elif MANIFEST.exists():
        problems = compare(built, json.loads(MANIFEST.read_text()))
        for p in problems[:20]:
            print("  " + p)
        if problems:
            print(f"corpus differs from {MANIFEST} ({len(problems)} differences)")
            return 1 if args.check else 0
        print("corpus matches the manifest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
