"""Security and compliance: PII scrubbing both ways, private endpoints and TLS, a human gate
for side effects, audit log integrity, backups."""

from __future__ import annotations

import ipaddress
import socket
from datetime import date
from urllib.parse import urlsplit

from lockgate.readiness.model import Context, Item
from lockgate.upstreams.deployments import deployment_specs

SCRUBBING = ("redact", "block")
# A restore not tried for this long is a warning.
MAX_RESTORE_TEST_AGE_DAYS = 180


def pii_scrubbing(ctx: Context) -> Item:
    title = "PII scrubbed on input AND output"
    cfg = ctx.settings.guardrails
    if not cfg.enabled:
        return Item("pii_scrubbing", title, "fail", "guardrails.enabled is false",
                    "set guardrails.enabled: true (the default policy redacts PII both ways)")
    names = {cfg.default_policy, *cfg.apps.values(), *cfg.models.values()}
    gaps = []
    for name in sorted(names):
        policy = cfg.policies.get(name)
        if policy is None:
            continue
        for direction in ("input", "output"):
            rules = getattr(policy, direction)
            if not any(r.scanner == "pii" and r.action in SCRUBBING for r in rules):
                gaps.append(f"{name}.{direction}")
    if gaps:
        return Item("pii_scrubbing", title, "fail",
                    f"no pii rule that redacts or blocks in {', '.join(gaps)}",
                    f"add {{scanner: pii, action: redact}} to guardrails.policies.{gaps[0]} "
                    "(and each other one listed)")
    return Item("pii_scrubbing", title, "pass",
                f"pii redact/block on input and output in policies {', '.join(sorted(names))}")


def _private_host(host: str) -> bool | None:
    """True: loopback or private address; False: public; None: a name not resolvable here."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return None
        addrs = [ipaddress.ip_address(i[4][0]) for i in infos]
        return all(a.is_private or a.is_loopback for a in addrs)
    return addr.is_private or addr.is_loopback


def private_endpoints(ctx: Context) -> Item:
    title = "Private model endpoints and TLS on the gateway"
    settings = ctx.settings
    server = settings.server
    problems: list[str] = []
    notes: list[str] = []
    if server.tls_cert_file is not None:
        notes.append(f"gateway serves TLS ({server.tls_cert_file})")
    elif settings.readiness.tls_terminated_by:
        notes.append(f"TLS terminated by {settings.readiness.tls_terminated_by}")
    else:
        problems.append(f"gateway listens on plain HTTP ({server.host}:{server.port})")
    public: list[str] = []
    for name, spec in settings.models.items():
        for key, dep, _w, _l in deployment_specs(name, spec):
            url = dep.base_url
            if not url:
                continue  # a local model: the data stays on this host
            parts = urlsplit(url)
            private = _private_host(parts.hostname or "")
            if parts.scheme != "https" and private is not True:
                problems.append(f"{key} is reached over plain HTTP at {parts.hostname}")
            elif private is not True:
                public.append(key)  # public, or a name this host cannot resolve
    if problems:
        return Item("private_endpoints", title, "fail", "; ".join(problems + notes),
                    "set server.tls_cert_file/tls_key_file (or readiness.tls_terminated_by "
                    "naming the proxy) and use https or private addresses for model base_url")
    if public:
        return Item("private_endpoints", title, "warn",
                    "; ".join(notes + [f"{', '.join(public)} cross the public internet (TLS)"]),
                    "use a private endpoint (VPC / PrivateLink) for the model provider if the "
                    "data must not leave your network")
    return Item("private_endpoints", title, "pass",
                "; ".join(notes + ["model endpoints are local or private"]))


def human_review(ctx: Context) -> Item:
    title = "Human-in-the-loop gate for actions with side effects"
    tools = ctx.settings.tools
    acting = [t.name for t in tools.declared if t.side_effects]
    gate = "tool_gate" in ctx.settings.pipeline
    if not gate:
        return Item("human_review", title, "fail", "the pipeline has no tool_gate stage",
                    "keep 'tool_gate' in pipeline (it is in the default)")
    if tools.undeclared == "allow":
        return Item("human_review", title, "warn",
                    f"side-effect tools held for approval: {', '.join(acting) or 'none'}; a "
                    "call to an undeclared tool is returned unapproved",
                    "set tools.undeclared: approve, and declare read-only tools with "
                    "side_effects: false")
    return Item("human_review", title, "pass",
                f"tool_gate holds {', '.join(acting) or 'every'} side-effect tool call and any "
                "undeclared tool for approval (review queue)")


def audit_integrity(ctx: Context) -> Item:
    title = "Audit log integrity (hash chain verified)"
    cfg = ctx.settings.audit
    if not cfg.enabled:
        return Item("audit_integrity", title, "fail", "audit.enabled is false",
                    "set audit.enabled: true")
    verdict = ctx.services.audit.verify()
    if not verdict.ok:
        return Item("audit_integrity", title, "fail",
                    f"chain broken after {verdict.entries} entries: {verdict.problem}",
                    "investigate with lockgate audit verify; restore the store from a backup")
    evidence = f"{verdict.entries} entries, chain intact, head {verdict.head[:12]}"
    if not verdict.signed:
        return Item("audit_integrity", title, "warn", evidence + ", head unsigned",
                    f"set {cfg.key_env} so the head is signed (a rewrite of the whole chain "
                    "is then detectable)")
    return Item("audit_integrity", title, "pass", evidence + ", head signed")


def backups(ctx: Context) -> Item:
    title = "Backups of the store, with a tested restore"
    policy = ctx.settings.readiness.backup
    dialect = ctx.services.engine.dialect.name
    if dialect == "sqlite":
        if not policy.command:
            return Item("backups", title, "fail", "SQLite store with no backup command recorded",
                        "set readiness.backup.command (e.g. sqlite3 DB \".backup FILE\") and "
                        "its schedule, and run it from cron")
        what = f"SQLite, backed up by `{policy.command}`"
    else:
        if not policy.schedule:
            return Item("backups", title, "fail", f"{dialect} store with no backup schedule",
                        "set readiness.backup.schedule (the managed service's or pgBackRest's "
                        "backups and point-in-time recovery)")
        what = f"{dialect}"
    parts = [what]
    if policy.schedule:
        parts.append(f"schedule {policy.schedule}")
    if policy.retention_days:
        parts.append(f"kept {policy.retention_days} days")
    missing = []
    if not policy.schedule:
        missing.append("no schedule")
    if not policy.retention_days:
        missing.append("no retention")
    restore = _days_since(policy.last_restore_test)
    if restore is None:
        missing.append("no restore test recorded (readiness.backup.last_restore_test)")
    elif restore > MAX_RESTORE_TEST_AGE_DAYS:
        missing.append(f"last restore test {restore} days ago")
    else:
        parts.append(f"restore tested {policy.last_restore_test}")
    if missing:
        return Item("backups", title, "warn", "; ".join(parts + missing),
                    "set readiness.backup.schedule and retention_days; restore a backup into "
                    "a scratch store and record the date in last_restore_test")
    return Item("backups", title, "pass", "; ".join(parts))


def _days_since(day: str | None) -> int | None:
    if not day:
        return None
    try:
        return (date.today() - date.fromisoformat(day)).days
    except ValueError:
        return None
