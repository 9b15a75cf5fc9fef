"""Injection look-alike sets: the generator is deterministic and matches the committed files,
splits are disjoint by template and by text, the sets cover the promised families and
languages, and no text copies a line of the other injection data (training negatives,
held-out benign sets, the small hand-written eval files)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from lockgate.guardrails.injection import hard_negatives

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench" / "guardrails"
DATA = BENCH / "data"
GENERATOR = BENCH / "gen_injection_lookalikes.py"
SPLITS = ("train", "dev", "test")
STEMS = ("injection_lookalikes", "injection_lookalike_attacks")
LANGS = {"en", "de", "fr", "es", "it", "pt", "nl", "pl", "ja", "zh"}


def _generate(out: Path) -> None:
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


def _rows(folder: Path, stem: str) -> dict[str, list[dict]]:
    return {
        split: [
            json.loads(line)
            for line in (folder / f"{stem}_{split}.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        for split in SPLITS
    }


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    _generate(first)
    _generate(second)
    return first, second


def test_rerun_writes_identical_files_equal_to_the_committed_ones(
    generated: tuple[Path, Path],
) -> None:
    first, second = generated
    for stem in STEMS:
        for split in SPLITS:
            name = f"{stem}_{split}.jsonl"
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
            assert (first / name).read_bytes() == (DATA / name).read_bytes(), (
                f"{name} is stale: rerun {GENERATOR.relative_to(ROOT)}"
            )


@pytest.mark.parametrize("stem", STEMS)
def test_splits_are_template_and_text_disjoint(stem: str) -> None:
    rows = _rows(DATA, stem)
    templates = {split: {r["template"] for r in rows[split]} for split in SPLITS}
    texts = {split: [r["text"] for r in rows[split]] for split in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not templates[a] & templates[b], (a, b)
            assert not set(texts[a]) & set(texts[b]), (a, b)
    every = [t for split in SPLITS for t in texts[split]]
    assert len(every) == len(set(every)), "a text appears twice"
    # Each template keeps one family and one language.
    kinds = {(r["template"], r["family"], r["lang"]) for s in SPLITS for r in rows[s]}
    assert len(kinds) == len({k[0] for k in kinds})


def test_benign_and_attack_sets_share_no_text_or_template() -> None:
    benign, attacks = (_rows(DATA, stem) for stem in STEMS)
    benign_texts = {_norm(r["text"]) for s in SPLITS for r in benign[s]}
    attack_texts = {_norm(r["text"]) for s in SPLITS for r in attacks[s]}
    assert not benign_texts & attack_texts
    benign_ids = {r["template"] for s in SPLITS for r in benign[s]}
    attack_ids = {r["template"] for s in SPLITS for r in attacks[s]}
    assert not benign_ids & attack_ids


def test_coverage_and_proportions() -> None:
    benign, attacks = (_rows(DATA, stem) for stem in STEMS)
    every = [r for s in SPLITS for r in benign[s]]
    assert set(every[0]) == {"text", "family", "lang", "template"}
    assert 900 <= len(every) <= 1500
    assert {r["lang"] for r in every} == LANGS
    assert len({r["family"] for r in every}) >= 10
    english = sum(r["lang"] == "en" for r in every) / len(every)
    assert 0.3 <= english <= 0.5
    # At least 60 templates each in English, the European languages and Japanese + Chinese.
    groups = {"en": {"en"}, "eu": {"de", "fr", "es", "it", "pt", "nl", "pl"}, "cjk": {"ja", "zh"}}
    for name, langs in groups.items():
        ids = {r["template"] for r in every if r["lang"] in langs}
        assert len(ids) >= 60, name
    # About 50/25/25 of templates, and every language and family present in every split.
    for rows in (benign, attacks):
        ids = {s: {r["template"] for r in rows[s]} for s in SPLITS}
        total = sum(len(v) for v in ids.values())
        assert abs(len(ids["train"]) / total - 0.5) < 0.05
        assert abs(len(ids["dev"]) / total - 0.25) < 0.05
        assert abs(len(ids["test"]) / total - 0.25) < 0.05
        for split in SPLITS:
            assert {r["lang"] for r in rows[split]} == LANGS, split
            families = {r["family"] for s in SPLITS for r in rows[s]}
            assert {r["family"] for r in rows[split]} == families, split
    attack_rows = [r for s in SPLITS for r in attacks[s]]
    assert len(attack_rows) >= 150
    assert {r["lang"] for r in attack_rows} == LANGS


def _existing_lines() -> set[str]:
    """Every line of the other injection data, as text: strings of JSON rows, source lines with
    their quotes and commas stripped, and the generated training negatives."""
    lines: set[str] = set()
    jsonl = sorted(DATA.glob("injection_benign_heldout_*.jsonl")) + [
        DATA / "injection_benign.jsonl",
        DATA / "injection_attacks.jsonl",
    ]
    assert len(jsonl) >= 4, "expected the held-out benign files"
    for path in jsonl:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            values = row.values() if isinstance(row, dict) else [row]
            lines.update(_norm(v) for v in values if isinstance(v, str))
    sources = [BENCH / "gen_injection_heldout.py", Path(hard_negatives.__file__)]
    for path in sources:
        for line in path.read_text(encoding="utf-8").splitlines():
            lines.add(_norm(line.strip().rstrip(",").strip("'\"")))
    lines.update(_norm(text) for text in hard_negatives.generate())
    lines.discard("")
    return lines


def test_no_text_copies_a_line_of_the_other_injection_data() -> None:
    existing = _existing_lines()
    for stem in STEMS:
        rows = _rows(DATA, stem)
        copied = [r["text"] for s in SPLITS for r in rows[s] if _norm(r["text"]) in existing]
        assert not copied, copied[:5]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_injection_lookalikes", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_bare_filled_template_copies_a_line_either() -> None:
    # Greetings and sign-offs could hide a copied sentence; check the bodies without them.
    gen = _load_generator()
    existing = _existing_lines()
    bodies = [
        (lang, t) for table in (gen.BENIGN, gen.ATTACKS) for lang in table for _, t in table[lang]
    ]
    counts = Counter(t for _, t in bodies)
    assert max(counts.values()) == 1, [b for b, n in counts.items() if n > 1]
    copied = []
    for lang, template in bodies:
        names = set(gen._SLOT.findall(template))
        for i in range(5):
            chosen = {
                n: gen._slot_values(lang, n)[i % len(gen._slot_values(lang, n))] for n in names
            }
            body = gen._SLOT.sub(lambda m, c=chosen: c[m.group(1)], template)
            if _norm(body) in existing:
                copied.append(body)
    assert not copied, copied[:5]
