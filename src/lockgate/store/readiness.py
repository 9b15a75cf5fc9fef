"""The facts about indexed documents the readiness report needs: which formats the active
documents are in, and when anything was last indexed."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from lockgate.store import tables as tb


class CorpusFacts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def formats(self) -> dict[str, int]:
        """Active documents per format of their current version."""
        d, v = tb.documents, tb.document_versions
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(v.c.format, func.count())
                .select_from(d.join(v, v.c.id == d.c.current_version_id))
                .where(d.c.status == "active")
                .group_by(v.c.format)
            ).all()
        return {str(fmt): int(n) for fmt, n in rows}

    def last_indexed_at(self) -> float | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(tb.document_versions.c.created_at))).scalar()
        return None if value is None else float(value)
