"""The process-wide OpenMP policy shared by torch and llama.cpp (models/openmp.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.models import openmp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_policy() -> Iterator[None]:
    openmp.reset()
    yield
    openmp.reset()


def _child(code: str, **env: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter (OpenMP reads its settings once, at load) with the
    OpenMP variables cleared except `env`; it prints one JSON object."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    clean["PYTHONPATH"] = str(ROOT / "src")
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env},
                         capture_output=True, text=True, timeout=300, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_embedder_no_longer_makes_openmp_threads_sleep_at_every_barrier() -> None:
    got = _child(
        "import json, os\n"
        "import lockgate.models.minilm\n"
        "print(json.dumps({k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')}))"
    )
    assert got == {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": openmp.SPIN_COUNT}


def test_an_explicit_wait_policy_from_the_environment_wins() -> None:
    got = _child(
        "import json, os\n"
        "import lockgate.models.llama_local\n"
        "print(json.dumps({k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')}))",
        OMP_WAIT_POLICY="PASSIVE",
    )
    assert got == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": None}


def test_torch_keeps_to_one_thread_once_this_process_generates(fresh_policy: None) -> None:
    assert openmp.torch_threads(4) == 4
    openmp.reserve_for_generation()
    assert openmp.torch_threads(4) == 1
    assert openmp.torch_threads(1) == 1


def test_a_batch_embedding_uses_every_core_in_an_ingest_process_and_one_in_a_gateway() -> None:
    # The real embedder and the real Services: an ingest-only process never builds the model
    # registry; a process that builds it with the embedded llama.cpp model keeps torch on
    # one thread, set before the embedder's first call.
    code = (
        "import json, sys, tempfile\n"
        "from pathlib import Path\n"
        "import torch\n"
        "from lockgate.config import Settings\n"
        "from lockgate.services import Services\n"
        "services = Services(Settings(home=Path(tempfile.mkdtemp())))\n"
        "if sys.argv[1] == 'gateway':\n"
        "    services.models\n"
        "model = services.embedder\n"
        "model.embed(['a long text about backups and retention of records ' * 20] * 8)\n"
        "print(json.dumps({'threads': torch.get_num_threads()}))\n"
    )
    ingest = _child(code.replace("sys.argv[1]", "'ingest'"))
    gateway = _child(code.replace("sys.argv[1]", "'gateway'"))
    assert gateway["threads"] == 1
    assert ingest["threads"] == torch_default_threads()


def torch_default_threads() -> int:
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                         capture_output=True, text=True, timeout=120, check=True)
    return int(out.stdout.strip())
