"""Cost and performance: semantic cache, model router, cost ceiling with its alerts."""

from __future__ import annotations

from lockgate.readiness.model import Context, Item


def semantic_cache(ctx: Context) -> Item:
    title = "Semantic cache for common queries"
    cfg = ctx.settings.cache
    if not cfg.enabled:
        return Item("semantic_cache", title, "fail", "cache.enabled is false",
                    "set cache.enabled: true and cache.semantic: true")
    if not cfg.semantic:
        return Item("semantic_cache", title, "warn",
                    "exact-match cache only (cache.semantic false)",
                    "set cache.semantic: true (similarity threshold cache.similarity)")
    return Item("semantic_cache", title, "pass",
                f"exact and semantic cache on, similarity {cfg.similarity}, ttl {cfg.ttl_s:g}s")


def model_router(ctx: Context) -> Item:
    title = "Model router sends simple questions to a cheaper model"
    cfg = ctx.settings.routing
    if not cfg.enabled:
        return Item("model_router", title, "fail", "routing.enabled is false",
                    "set routing.enabled: true with routing.routes {name: {small, large}}")
    if not cfg.routes:
        return Item("model_router", title, "fail",
                    "routing is on but routing.routes is empty: every request goes to the "
                    "model it names",
                    "add routing.routes, e.g. {assistant: {small: M1, large: M2}}")
    routes = ", ".join(f"{n}: {r.small} / {r.large}" for n, r in sorted(cfg.routes.items()))
    return Item("model_router", title, "pass", f"routes {routes}")


def cost_ceiling(ctx: Context) -> Item:
    title = "Cost ceiling and its alert threshold"
    budgets = ctx.settings.budgets
    rules = budgets.rules if budgets.enabled else []
    hard = [r for r in rules if r.hard is not None]
    soft = [r for r in rules if r.soft is not None]
    kinds = ctx.settings.alerts.kinds()
    hooks = bool(ctx.settings.alerts.webhooks) and ctx.settings.alerts.enabled
    if not hard:
        return Item("cost_ceiling", title, "fail",
                    "no budget rule with a hard ceiling" + ("" if budgets.enabled else
                                                            " (budgets.enabled is false)"),
                    "add budgets.rules with hard (the ceiling) and soft (the alert threshold), "
                    "e.g. {scope: tenant, period: month, hard: 500, soft: 400}")
    evidence = "; ".join(
        f"{r.scope} {r.id} per {r.period}: hard {r.hard}, soft {r.soft}" for r in rules
    )
    missing = []
    if not soft:
        missing.append("no soft threshold")
    if "budget_soft" not in kinds:
        missing.append("no budget_soft alert rule")
    if "budget_hard" not in kinds:
        missing.append("no budget_hard alert rule")
    if not hooks:
        missing.append("no alert webhook")
    if missing:
        return Item("cost_ceiling", title, "warn", f"{evidence}; {', '.join(missing)}",
                    "set soft on the budget rules and add alerts.rules of kind budget_soft "
                    "and budget_hard with an alerts.webhooks entry")
    return Item("cost_ceiling", title, "pass", f"{evidence}; soft and hard alerts configured")
