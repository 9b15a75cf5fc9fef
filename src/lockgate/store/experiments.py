"""Evaluation experiments: a run of a dataset through the pipeline, its cases, and labels.

An experiment as read back is one plain dict (the shape reports and `eval/compare.py` read):
`{"id", "name", "created_at", "dataset", "dataset_hash", "options", "pass_rate", "metrics",
"cases": [...]}`, each case `{"id", "tags", "passed", "metrics", "assertions", "input",
"answer", "refused", "citations", "sources", "latency_ms", "ttft_ms", "cost_usd", "trace_id",
"error"}`.

Every read names the tenant in the WHERE clause (None only for the host's operator, who
reads every tenant). A case's input, answer, assertion details and error are what callers
wrote and models answered: sealed with the tenant's data key, as traces are."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.store import tables as tb
from lockgate.store.db import transaction

EXPERIMENT_ID = re.compile(r"exp_[0-9a-f]{24}")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SEALED = ("input", "answer", "assertions", "error")
_PLAIN_JSON = ("tags", "metrics", "citations", "sources")


def new_experiment_id() -> str:
    return f"exp_{uuid.uuid4().hex[:24]}"


class ExperimentStore:
    def __init__(self, engine: Engine, cipher: FieldCipher | None = None) -> None:
        self.engine = engine
        self.cipher: FieldCipher = cipher or NoEncryption()

    # -- writing ---------------------------------------------------------------------------

    def add(self, experiment: dict[str, Any], tenant: str, principal: str) -> str:
        """Store an experiment (the shape in the module docstring; `id` and `created_at`
        are filled in when missing) and return its id."""
        exp_id = str(experiment.get("id") or new_experiment_id())
        created = float(experiment.get("created_at") or time.time())
        rows = [
            self._case_row(exp_id, i, case, tenant) for i, case in enumerate(experiment["cases"])
        ]
        with transaction(self.engine) as conn:
            conn.execute(
                insert(tb.experiments).values(
                    id=exp_id,
                    created_at=created,
                    tenant=tenant,
                    principal=principal,
                    name=str(experiment.get("name") or exp_id),
                    dataset=str(experiment.get("dataset") or ""),
                    dataset_hash=str(experiment.get("dataset_hash") or ""),
                    options=json.dumps(experiment.get("options") or {}),
                    pass_rate=float(experiment["pass_rate"]),
                    metrics=json.dumps(experiment.get("metrics") or {}),
                    case_count=len(rows),
                )
            )
            if rows:
                conn.execute(insert(tb.experiment_cases), rows)
        return exp_id

    def _case_row(
        self, exp_id: str, position: int, case: dict[str, Any], tenant: str
    ) -> dict[str, Any]:
        # Sealed before the transaction: a tenant's first seal writes its data key, in a
        # transaction of its own that must not wait on this one.
        content = json.dumps({k: case.get(k) for k in _SEALED}, default=str)
        row: dict[str, Any] = {
            "experiment_id": exp_id,
            "position": position,
            "case_id": str(case["id"]),
            "tenant": tenant,
            "passed": int(bool(case.get("passed"))),
            "refused": int(bool(case.get("refused"))),
            "latency_ms": case.get("latency_ms"),
            "ttft_ms": case.get("ttft_ms"),
            "cost_usd": case.get("cost_usd"),
            "trace_id": case.get("trace_id"),
            "content": self.cipher.encrypt(content, tenant),
        }
        for key in _PLAIN_JSON:
            row[key] = json.dumps(case.get(key) or ([] if key != "metrics" else {}), default=str)
        return row

    def label(self, experiment_id: str, name: str, tenant: str | None) -> bool:
        """Point label `name` of the experiment's tenant at it (moving the label if it named
        another). False when the experiment is not visible to `tenant`."""
        if not LABEL.fullmatch(name) or EXPERIMENT_ID.fullmatch(name):
            raise ValueError(
                f"invalid label '{name}': letters, digits, '.', '_' and '-' (at most 64), "
                "and not an experiment id"
            )
        e = tb.experiments
        stmt = select(e.c.tenant).where(e.c.id == experiment_id)
        if tenant is not None:
            stmt = stmt.where(e.c.tenant == tenant)
        lb = tb.experiment_labels
        with transaction(self.engine) as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return False
            owner = row[0]
            conn.execute(delete(lb).where(lb.c.tenant == owner, lb.c.label == name))
            conn.execute(
                insert(lb).values(
                    tenant=owner, label=name, experiment_id=experiment_id, updated_at=time.time()
                )
            )
        return True

    # -- reading ---------------------------------------------------------------------------

    def resolve(self, ref: str, tenant: str | None) -> str | None:
        """The id of experiment `ref` (an id, or a label of the tenant), or None. For the
        operator (tenant None) a label must name one experiment across tenants."""
        e, lb = tb.experiments, tb.experiment_labels
        with self.engine.connect() as conn:
            if EXPERIMENT_ID.fullmatch(ref):
                stmt = select(e.c.id).where(e.c.id == ref)
                if tenant is not None:
                    stmt = stmt.where(e.c.tenant == tenant)
                row = conn.execute(stmt).first()
                return None if row is None else str(row[0])
            stmt = select(lb.c.experiment_id).where(lb.c.label == ref)
            if tenant is not None:
                stmt = stmt.where(lb.c.tenant == tenant)
            found = [str(r[0]) for r in conn.execute(stmt)]
        return found[0] if len(found) == 1 else None

    def latest(self, tenant: str | None, exclude: str | None = None) -> str | None:
        e = tb.experiments
        stmt = select(e.c.id).order_by(e.c.created_at.desc(), e.c.id.desc()).limit(1)
        if tenant is not None:
            stmt = stmt.where(e.c.tenant == tenant)
        if exclude is not None:
            stmt = stmt.where(e.c.id != exclude)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else str(row[0])

    def labels_of(self, experiment_ids: list[str]) -> dict[str, list[str]]:
        lb = tb.experiment_labels
        out: dict[str, list[str]] = {i: [] for i in experiment_ids}
        if not experiment_ids:
            return out
        stmt = select(lb.c.experiment_id, lb.c.label).where(lb.c.experiment_id.in_(experiment_ids))
        with self.engine.connect() as conn:
            for exp_id, name in conn.execute(stmt.order_by(lb.c.label)):
                out[str(exp_id)].append(str(name))
        return out

    def list(self, tenant: str | None, limit: int = 50) -> list[dict[str, Any]]:
        """Experiments newest first, without their cases; each with its labels."""
        e = tb.experiments
        stmt = select(e).order_by(e.c.created_at.desc(), e.c.id.desc()).limit(limit)
        if tenant is not None:
            stmt = stmt.where(e.c.tenant == tenant)
        with self.engine.connect() as conn:
            rows = [self._summary(r) for r in conn.execute(stmt)]
        labels = self.labels_of([r["id"] for r in rows])
        for r in rows:
            r["labels"] = labels[r["id"]]
        return rows

    def get(self, experiment_id: str, tenant: str | None) -> dict[str, Any] | None:
        """One experiment with its cases (decrypted), or None when it does not exist or
        belongs to another tenant than `tenant`."""
        e, c = tb.experiments, tb.experiment_cases
        stmt = select(e).where(e.c.id == experiment_id)
        if tenant is not None:
            stmt = stmt.where(e.c.tenant == tenant)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return None
            cases = conn.execute(
                select(c).where(c.c.experiment_id == experiment_id).order_by(c.c.position)
            ).all()
        out = self._summary(row)
        out["labels"] = self.labels_of([experiment_id])[experiment_id]
        out["cases"] = [self._case(r) for r in cases]
        return out

    @staticmethod
    def _summary(row: Any) -> dict[str, Any]:
        return {
            "id": row.id,
            "name": row.name,
            "created_at": row.created_at,
            "tenant": row.tenant,
            "principal": row.principal,
            "dataset": row.dataset,
            "dataset_hash": row.dataset_hash,
            "options": json.loads(row.options),
            "pass_rate": row.pass_rate,
            "metrics": json.loads(row.metrics),
            "case_count": row.case_count,
        }

    def _case(self, row: Any) -> dict[str, Any]:
        content = json.loads(self.cipher.decrypt(row.content))
        return {
            "id": row.case_id,
            "tags": json.loads(row.tags),
            "passed": bool(row.passed),
            "metrics": json.loads(row.metrics),
            "assertions": content.get("assertions") or [],
            "input": content.get("input"),
            "answer": content.get("answer"),
            "refused": bool(row.refused),
            "citations": json.loads(row.citations),
            "sources": json.loads(row.sources),
            "latency_ms": row.latency_ms,
            "ttft_ms": row.ttft_ms,
            "cost_usd": row.cost_usd,
            "trace_id": row.trace_id,
            "error": content.get("error"),
        }
