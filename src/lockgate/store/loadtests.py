"""Load test runs: one row per `lockgate loadtest`, the latest read by the readiness report
("stress test at 3x projected load"). Latencies are in milliseconds."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select

from lockgate.store import tables as tb
from lockgate.store.db import transaction


@dataclass
class LoadtestRecord:
    url: str
    scenario: str
    rps_target: float
    rps_achieved: float
    duration: float
    requests: int
    p50: float | None
    p95: float | None
    p99: float | None
    ttft_p50: float | None
    error_rate: float
    cost: float | None
    generator_cpu: float
    projected_peak_rps: float | None = None
    projected_load_multiple: float | None = None  # rps achieved / the projected peak
    report: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: f"lt_{uuid.uuid4().hex[:24]}")
    created_at: float = field(default_factory=time.time)

    @classmethod
    def of_report(cls, report: dict[str, Any]) -> LoadtestRecord:
        """From `LoadReport.as_dict()`."""
        latency, ttft = report["latency_ms"], report["ttft_ms"]
        return cls(
            url=report["url"],
            scenario=report["scenario"],
            rps_target=report["rps_target"],
            rps_achieved=report["rps_achieved"],
            duration=report["duration"],
            requests=report["requests"],
            p50=latency["p50"],
            p95=latency["p95"],
            p99=latency["p99"],
            ttft_p50=ttft["p50"],
            error_rate=report["error_rate"],
            cost=report["cost"],
            generator_cpu=report["generator_cpu"],
            projected_peak_rps=report.get("projected_peak_rps"),
            projected_load_multiple=report.get("projected_load_multiple"),
            report=report,
        )


class LoadtestStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, rec: LoadtestRecord) -> LoadtestRecord:
        values: dict[str, Any] = {c.name: getattr(rec, c.name) for c in tb.loadtest_runs.columns}
        values["report"] = json.dumps(rec.report, default=str)
        with transaction(self.engine) as conn:
            conn.execute(insert(tb.loadtest_runs).values(**values))
        return rec

    def latest(self) -> LoadtestRecord | None:
        runs = self.recent(1)
        return runs[0] if runs else None

    def recent(self, limit: int = 20) -> list[LoadtestRecord]:
        t = tb.loadtest_runs
        stmt = select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for row in rows:
            values = dict(row._mapping)
            values["report"] = json.loads(values["report"])
            out.append(LoadtestRecord(**values))
        return out
