"""Traces are read per tenant (`GET /v1/traces`, `lockgate traces list --tenant`): the
tenant column exists since m0001, this index serves its filter with the newest-first order."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    conn.execute(text("CREATE INDEX ix_traces_tenant_created ON traces (tenant, created_at)"))
