"""Data and retrieval: chunking fit for the document types, freshness, non-parsable files."""

from __future__ import annotations

import time

from lockgate.readiness.model import Context, Item
from lockgate.store.readiness import CorpusFacts
from lockgate.store.signals import AlertSignals

# Formats whose parsers number sheets / slides / pages, and the strategy that keeps one of
# them per chunk (a chunk spanning two sheets mixes unrelated tables).
PAGED = {"xlsx": "sheet", "xls": "sheet", "ods": "sheet", "pptx": "slide"}
# How old the newest indexed version may be before the index counts as not kept fresh.
MAX_INDEX_AGE_DAYS = 30.0


def chunking(ctx: Context) -> Item:
    title = "Chunking strategy fits the document types"
    cfg = ctx.settings.ingest
    formats = CorpusFacts(ctx.services.engine).formats()
    if not formats:
        return Item("chunking", title, "fail", "no documents are indexed",
                    "ingest the production documents (lockgate ingest PATH, or ingest.sources)")
    used = {fmt: cfg.strategies.get(fmt, cfg.default_strategy) for fmt in formats}
    shown = ", ".join(f"{fmt} x{formats[fmt]} -> {used[fmt]}" for fmt in sorted(formats))
    blind = sorted(f for f, s in used.items() if s == "fixed")
    if blind:
        return Item("chunking", title, "warn", f"{shown}; 'fixed' ignores headings and tables",
                    f"set ingest.strategies for {', '.join(blind)} to 'structure' (or 'page')")
    unfit = sorted(f for f in formats if f in PAGED and used[f] not in (PAGED[f], "page"))
    if unfit:
        fix = ", ".join(f"{f}: {PAGED[f]}" for f in unfit)
        return Item("chunking", title, "warn",
                    f"{shown}; chunks of {', '.join(unfit)} may span two sheets or slides",
                    f"set ingest.strategies {{{fix}}}")
    return Item("chunking", title, "pass", shown)


def freshness(ctx: Context) -> Item:
    title = "Freshness: the index is kept current and stale documents are handled"
    engine = ctx.services.engine
    last = CorpusFacts(engine).last_indexed_at()
    if last is None:
        return Item("freshness", title, "fail", "nothing was ever indexed",
                    "ingest the documents and schedule their sync (ingest.sources, "
                    "lockgate ingest --watch)")
    age_days = (time.time() - last) / 86400
    stale = AlertSignals(engine).stale_documents()
    policy = ctx.settings.freshness.stale
    evidence = (f"last indexed {age_days:.1f} days ago; {stale} active documents past their "
                f"review date; stale documents: {policy}; {len(ctx.settings.ingest.sources)} "
                "configured sources")
    alerting = "stale_documents" in ctx.settings.alerts.kinds()
    if policy == "ignore":
        return Item("freshness", title, "warn", evidence,
                    "set freshness.stale to 'downweight' or 'exclude' so overdue documents "
                    "do not answer as if current")
    if age_days > MAX_INDEX_AGE_DAYS or stale:
        return Item("freshness", title, "warn", evidence,
                    "re-ingest or review the overdue documents (lockgate docs list shows "
                    "review dates); sync the sources on a schedule")
    if not alerting:
        return Item("freshness", title, "warn", evidence + "; no stale_documents alert rule",
                    "add an alerts.rules entry of kind stale_documents")
    return Item("freshness", title, "pass", evidence + "; stale_documents alert configured")


def non_parsable(ctx: Context) -> Item:
    title = "Non-parsable files are quarantined and someone is told"
    count = AlertSignals(ctx.services.engine).quarantined()
    rule = "quarantine_growth" in ctx.settings.alerts.kinds() and bool(ctx.settings.alerts.webhooks)
    ingest_hook = bool(ctx.settings.ingest.alerts.webhook_url) and (
        ctx.settings.ingest.alerts.quarantine_growth > 0
    )
    evidence = f"{count} files in quarantine (parse failures are quarantined with the reason)"
    if not rule and not ingest_hook:
        return Item("non_parsable", title, "fail", evidence + "; no alert when files fail to parse",
                    "add an alerts.rules entry of kind quarantine_growth with a webhook "
                    "(or set ingest.alerts.webhook_url)")
    if count:
        return Item("non_parsable", title, "warn", evidence,
                    "fix or remove the quarantined files, then lockgate docs retry "
                    "(lockgate docs quarantine lists them)")
    return Item("non_parsable", title, "pass", evidence + "; quarantine alert configured")
