"""Run a policy's scanners over a text, decide the action, apply redaction."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from time import perf_counter

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.guardrails.base import (
    SEVERITY,
    Action,
    Direction,
    Finding,
    GuardResult,
    ScanContext,
    Scanner,
    ScannerOutcome,
)
from lockgate.guardrails.continuation import continued
from lockgate.guardrails.links.step import defang_links
from lockgate.guardrails.registry import (
    SCANNERS,
    ScannerConfigError,
    ScannerDeps,
    build,
    parse_params,
)
from lockgate.guardrails.vault import Vault
from lockgate.observability.metrics import METRICS

log = logging.getLogger("lockgate.guardrails")

# What a warm-up scan reads: a question with the things scanners look for (an address, a
# link, an instruction, several sentences), so each takes its full path once.
WARM_TEXT = (
    "Please summarise the refund policy for jane.doe@example.com, order 4417. "
    "Ignore nothing in the manual at https://example.com/manual and cite it [1]. "
    "Refunds are paid within 14 days of the return."
)
_WARM_CHUNK = "Refunds are paid within 14 days of the return arriving at the warehouse."


def warm_context(direction: Direction) -> ScanContext:
    return ScanContext(
        direction,
        chunks=[_WARM_CHUNK],
        user_text=WARM_TEXT if direction == "out" else "",
        system_prompt="Answer from the manual only.",
    )


class GuardEngine:
    def __init__(self, config: GuardrailsConfig, deps: ScannerDeps) -> None:
        self.config = config
        self.deps = deps
        self._scanners: dict[str, Scanner] = {}
        # Scanners run here so one that overruns its budget cannot hold up the request;
        # inputs are capped in size so an abandoned scan still ends soon.
        self._pool = ThreadPoolExecutor(
            max_workers=config.scanner_workers, thread_name_prefix="guard"
        )

    def policy(self, app: str | None = None, model: str | None = None) -> GuardPolicy:
        name = (
            (app and self.config.apps.get(app))
            or (model and self.config.models.get(model))
            or self.config.default_policy
        )
        return self.config.policies[name]

    def rules(self, policy: GuardPolicy, direction: Direction) -> list[ScannerRule]:
        return {"in": policy.input, "out": policy.output, "context": policy.context}[direction]

    def scanner(self, rule: ScannerRule) -> Scanner:
        key = f"{rule.scanner}:{json.dumps(rule.params, sort_keys=True)}"
        if key not in self._scanners:
            self._scanners[key] = build(rule.scanner, rule.params, self.deps)
        return self._scanners[key]

    def validate(self) -> None:
        """Fail at start-up, not on the first request, when a policy names no real scanner or
        gives one a param it does not take. Every bad rule is reported, each by its key."""
        errors: list[str] = []
        for name, policy in self.config.policies.items():
            for field, rules in (
                ("input", policy.input),
                ("context", policy.context),
                ("output", policy.output),
            ):
                for i, rule in enumerate(rules):
                    key = f"guardrails.policies.{name}.{field}[{i}]"
                    if rule.scanner not in SCANNERS:
                        errors.append(
                            f"invalid config key '{key}.scanner': unknown scanner "
                            f"'{rule.scanner}' (known: {SCANNERS.known()})"
                        )
                        continue
                    try:
                        parse_params(rule.scanner, rule.params, f"{key}.params")
                    except ScannerConfigError as exc:
                        errors.append(str(exc))
        if errors:
            raise ScannerConfigError("\n".join(errors))

    def warm(self) -> list[str]:
        """Build every configured scanner and run it once over a sample, so neither model
        loading nor a first call's lazy set-up (a classifier's first prediction, an
        embedding session's first run) is paid by a request. Returns one line per scanner
        that failed, naming its rule; each is logged too (and reported per request)."""
        errors: list[str] = []
        seen: set[tuple[int, str]] = set()
        for name, policy in self.config.policies.items():
            sides: tuple[tuple[str, Direction, list[ScannerRule]], ...] = (
                ("input", "in", policy.input),
                ("context", "context", policy.context),
                ("output", "out", policy.output),
            )
            for field, direction, rules in sides:
                for i, rule in enumerate(rules):
                    key = f"guardrails.policies.{name}.{field}[{i}]"
                    try:
                        scanner = self.scanner(rule)
                        if (id(scanner), direction) in seen:
                            continue
                        seen.add((id(scanner), direction))
                        scanner.scan(WARM_TEXT, warm_context(direction))
                    except Exception as exc:  # noqa: BLE001 - reported, and per request too
                        log.exception(
                            "guardrail scanner '%s' (%s) failed to load", rule.scanner, key
                        )
                        errors.append(
                            f"{key} (scanner '{rule.scanner}'): {type(exc).__name__}: {exc}"
                        )
        return errors

    def scan(
        self,
        text: str,
        ctx: ScanContext,
        policy: GuardPolicy,
        vault: Vault | None = None,
        released: str = "",
    ) -> GuardResult:
        """Run the direction's rules on `text` and decide. For a stream, `released` is the end
        of what the caller already has, right before `text`: scanners see both, so what
        straddles two pieces is found (see `continuation`). Answers and retrieved chunks then
        lose their images, links and HTML outside the policy's allowed hosts."""
        rules = self.rules(policy, ctx.direction)
        limit = self.config.max_scan_chars
        if len(text) > limit and rules:
            # Scanning a part would pass the rest unscanned, and scanning it all would break
            # the budget: the text is refused whatever the policy.
            METRICS.inc("lockgate_guardrail_errors_total", scanner="size_limit")
            outcome = ScannerOutcome(
                "size_limit",
                "block",
                [],
                0.0,
                f"text of {len(text)} characters is over the scan limit of {limit}",
            )
            return GuardResult(ctx.direction, "block", [outcome], text)
        outcomes = self._run_rules(rules, text, ctx, policy, released)
        redactable = [f for o in outcomes if o.action == "redact" for f in o.findings]
        new_text = redact(text, redactable, vault, ctx.direction) if redactable else text
        if ctx.direction != "in":
            new_text, links = defang_links(new_text, policy.links)
            if links is not None:
                outcomes.append(links)
        action: Action = "allow"
        for o in outcomes:
            if SEVERITY[o.action] > SEVERITY[action]:
                action = o.action
            # Counted here, after a stream's released tail is taken out of the findings.
            for f in o.findings:
                METRICS.inc(
                    "lockgate_guardrail_findings_total",
                    scanner=o.scanner,
                    type=f.type,
                    action=o.action,
                    direction=ctx.direction,
                )
        return GuardResult(ctx.direction, action, outcomes, new_text)

    def _run_rules(
        self,
        rules: list[ScannerRule],
        text: str,
        ctx: ScanContext,
        policy: GuardPolicy,
        released: str,
    ) -> list[ScannerOutcome]:
        """Every rule's outcome, in rule order. The scanners are independent of each other:
        each sees the same text (redaction is applied afterwards, from all the findings), so
        the order they run in changes nothing. The ones that run on the pool are all started
        first, so they run side by side; the inline ones (see `_inline`) run meanwhile on
        this thread."""
        runs = [_Run(rule, text, perf_counter()) for rule in rules]
        for run in runs:
            try:
                run.scanner = self.scanner(run.rule)
            except Exception as exc:  # noqa: BLE001 - a broken scanner is reported, not fatal
                run.error = f"{type(exc).__name__}: {exc}"
                run.settled = perf_counter()
                continue
            if released and getattr(run.scanner, "stream_window", True):
                run.cut = len(released)
                run.text = released + text
            if not _inline(run.scanner):
                try:
                    self._submit(run, ctx)
                except RuntimeError as exc:  # the pool is shut down: the gateway is stopping
                    run.error = f"{type(exc).__name__}: {exc}"
                    run.settled = perf_counter()
        for run in runs:
            if run.scanner is not None and run.future is None and run.error is None:
                self._scan_here(run, ctx)
        for run in runs:
            if run.future is not None:
                self._collect(run)
        return [self._outcome(run, ctx, policy) for run in runs]

    def _scan_here(self, run: _Run, ctx: ScanContext) -> None:
        """An inline scanner, on the calling thread. Its budget is checked when it returns:
        the outcome of an overrun is the same as on the pool (a failure), only learnt later,
        which for a linear scan of a capped text is bounded."""
        assert run.scanner is not None
        run.t0 = perf_counter()
        try:
            run.found = run.scanner.scan(run.text, ctx)
        except Exception as exc:  # noqa: BLE001 - a broken scanner is reported, not fatal
            run.error = f"{type(exc).__name__}: {exc}"
        run.settled = perf_counter()
        if run.error is None and run.settled - run.t0 > self.config.scanner_timeout_ms / 1000:
            run.found, run.error = [], f"timed out after {self.config.scanner_timeout_ms} ms"

    def _submit(self, run: _Run, ctx: ScanContext) -> None:
        scanner = run.scanner
        assert scanner is not None

        started = run.started = threading.Event()

        def task() -> list[Finding]:
            run.began = perf_counter()
            started.set()
            try:
                return scanner.scan(run.text, ctx)
            finally:
                run.ended = perf_counter()

        run.t0 = perf_counter()
        run.future = self._pool.submit(task)

    def _collect(self, run: _Run) -> None:
        """Wait for one pooled scan; its budget starts when a worker picks it up, so time
        spent queued behind other requests' scans is not counted against it."""
        assert run.future is not None and run.started is not None
        queue_s = self.config.scanner_queue_timeout_ms / 1000
        if not run.started.wait(max(0.0, queue_s - (perf_counter() - run.t0))):
            if run.future.cancel():
                run.error = f"not started within {self.config.scanner_queue_timeout_ms} ms"
                run.settled = perf_counter()
                return
            run.started.wait()  # it started as the wait ended
        budget = self.config.scanner_timeout_ms / 1000
        remaining = budget - (perf_counter() - run.began)
        try:
            run.found = run.future.result(timeout=max(0.0, remaining))
            run.settled = run.ended
        except FutureTimeout:
            run.error = f"timed out after {self.config.scanner_timeout_ms} ms"
            run.settled = perf_counter()
        except Exception as exc:  # noqa: BLE001 - a broken scanner is reported, not fatal
            run.error = f"{type(exc).__name__}: {exc}"
            run.settled = run.ended

    def _outcome(self, run: _Run, ctx: ScanContext, policy: GuardPolicy) -> ScannerOutcome:
        rule = run.rule
        # From the hand-off (or the start, inline) to the end of the scan, or to giving up.
        ms = (run.settled - run.t0) * 1000
        findings = [
            Finding(f.type, f.start, f.end, f.score, rule.scanner, f.replacement, f.detail)
            for f in run.found
            if f.score >= rule.threshold
        ]
        if run.error is not None:
            action: Action = on_error(rule, policy)
        else:
            action = rule.action if findings else "allow"
        METRICS.observe(
            "lockgate_guardrail_latency_ms", ms, scanner=rule.scanner, direction=ctx.direction
        )
        if run.error:
            METRICS.inc("lockgate_guardrail_errors_total", scanner=rule.scanner)
        outcome = ScannerOutcome(rule.scanner, action, findings, ms, run.error)
        return continued(outcome, run.cut) if run.cut else outcome


def _inline(scanner: Scanner) -> bool:
    """A scanner that sets `inline = True` runs on the calling thread instead of the pool:
    pure-Python work, linear in a text that is capped, well inside its budget even at the
    cap. Such a scanner holds the GIL throughout, so on a pool thread it would run no
    sooner and no faster beside the others, and the two thread switches of the hand-off
    cost more CPU than a short text's scan (BENCHMARKS.md, "stage by stage")."""
    return getattr(scanner, "inline", False) is True


@dataclass
class _Run:
    """One rule's scan in progress."""

    rule: ScannerRule
    text: str
    t0: float
    scanner: Scanner | None = None
    cut: int = 0
    found: list[Finding] = dataclasses.field(default_factory=list)
    error: str | None = None
    future: Future[list[Finding]] | None = None
    started: threading.Event | None = None  # on the pool: set when a worker picks it up
    began: float = 0.0  # on the pool: when a worker picked it up
    ended: float = 0.0  # on the pool: when the worker finished (written by the worker)
    settled: float = 0.0  # when its outcome was known here


_FAIL_CLOSED: dict[str, Action] = {
    "block": "block",
    "redact": "block",
    "escalate": "escalate",
    "flag": "flag",
    "allow": "flag",
}


def on_error(rule: ScannerRule, policy: GuardPolicy) -> Action:
    """The action when a rule's scanner failed (raised, overran, never started)."""
    if policy.on_error == "allow":
        return "allow"
    if policy.on_error == "block":
        return "block"
    return _FAIL_CLOSED[rule.action]


def redact(text: str, findings: list[Finding], vault: Vault | None, direction: Direction) -> str:
    """Replace finding spans right to left, skipping overlaps (the earlier, longer span wins)."""
    spans = sorted(findings, key=lambda f: (f.start, -(f.end - f.start)))
    chosen: list[Finding] = []
    last_end = -1
    for f in spans:
        if f.start >= last_end and f.end > f.start:
            chosen.append(f)
            last_end = f.end
    out = text
    for f in reversed(chosen):
        if f.replacement is not None:
            repl = f.replacement
        elif vault is not None and direction == "in":
            repl = vault.placeholder(f.type, text[f.start : f.end])
        else:
            # Output PII the caller never supplied is masked for good, not made reversible.
            repl = f"[{f.type}]"
        out = out[: f.start] + repl + out[f.end :]
    return out
