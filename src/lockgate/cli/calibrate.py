"""`lockgate guard-calibrate`: a policy rule's threshold from the policy's own samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import cast

import click

from lockgate.auth.scopes import GUARD_CHECK
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag

NOT_MET = 1  # like `eval gate`: a CI step can fail on it


def read_texts(path: Path) -> list[str]:
    """One text per line: a JSON object with `text` (JSONL) or the line itself."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}") from exc
    texts = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise click.BadParameter(f"{path}:{n}: not valid JSON ({exc})") from exc
            if not isinstance(row.get("text"), str):
                raise click.BadParameter(f"{path}:{n}: a JSON line needs a string 'text'")
            texts.append(row["text"])
        else:
            texts.append(line)
    return texts


@requires(GUARD_CHECK)
@click.command("guard-calibrate")
@click.option(
    "--benign",
    "benign_files",
    multiple=True,
    required=True,
    type=Path,
    help="Benign samples (JSONL with 'text', or one text per line); repeatable.",
)
@click.option(
    "--attacks",
    "attack_files",
    multiple=True,
    type=Path,
    help="Attack samples, same format; repeatable (recall is reported from these).",
)
@click.option("--scanner", default="injection", show_default=True)
@click.option("--app", default=None, help="Calibrate this app's policy (default: the default).")
@click.option(
    "--direction", type=click.Choice(["in", "out", "context"]), default="in", show_default=True
)
@click.option(
    "--max-fpr",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.05,
    show_default=True,
    help="Largest share of benign samples that may be flagged.",
)
@click.option(
    "--min-recall",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Exit 1 when the chosen threshold catches fewer attacks than this.",
)
@json_flag
@click.pass_obj
def guard_calibrate(
    obj: Ctx,
    benign_files: tuple[Path, ...],
    attack_files: tuple[Path, ...],
    scanner: str,
    app: str | None,
    direction: str,
    max_fpr: float,
    min_recall: float,
    as_json: bool,
) -> None:
    """Pick the policy's threshold for SCANNER from labelled samples of its own traffic."""
    from lockgate.guardrails.base import Direction, Finding, ScanContext
    from lockgate.guardrails.calibrate import calibrate, text_score

    where = cast("Direction", direction)

    if app and app not in obj.settings.guardrails.apps:
        click.echo(f"lockgate: no guardrail policy for app '{app}'", err=True)
        sys.exit(2)
    benign = [t for f in benign_files for t in read_texts(f)]
    attacks = [t for f in attack_files for t in read_texts(f)]
    if not benign:
        click.echo("lockgate: the benign files hold no text", err=True)
        sys.exit(2)
    guard = obj.services().guard
    guard.validate()
    policy = guard.policy(app)
    name = guard.config.apps.get(app or "", guard.config.default_policy)
    rules = [r for r in guard.rules(policy, where) if r.scanner == scanner]
    if not rules:
        click.echo(
            f"lockgate: policy '{name}' runs no '{scanner}' rule on direction '{direction}'",
            err=True,
        )
        sys.exit(2)
    rule = rules[0]
    instance = guard.scanner(rule)
    ctx = ScanContext(direction=where)

    def scan(text: str) -> list[Finding]:
        return instance.scan(text, ctx)

    result = calibrate(
        [text_score(scan, t) for t in benign],
        [text_score(scan, t) for t in attacks],
        max_fpr,
        min_recall,
    )
    if as_json:
        dump(
            {
                "policy": name,
                "scanner": scanner,
                "direction": direction,
                "current_threshold": rule.threshold,
                **result.as_dict(),
            }
        )
    else:
        click.echo(
            f"policy {name}, scanner {scanner}, direction {direction}: "
            f"{result.benign} benign, {result.attacks} attack samples"
        )
        click.echo(f"{'threshold':>9}  {'FPR':>6}  {'recall':>6}")
        for p in result.curve:
            click.echo(f"{p.threshold:>9.2f}  {p.fpr:>6.3f}  {p.recall:>6.3f}")
        click.echo(
            f"current threshold {rule.threshold:.2f}; chosen {result.threshold:.4f}: "
            f"FPR {result.fpr:.3f} (max {max_fpr}), recall {result.recall:.3f}"
        )
        field = {"in": "input", "out": "output", "context": "context"}[direction]
        click.echo("\nin lockgate.yaml (the rule's other keys as they are):")
        click.echo(
            f"guardrails:\n  policies:\n    {name}:\n      {field}:\n"
            f"        - scanner: {scanner}\n          action: {rule.action}\n"
            f"          threshold: {result.threshold}"
        )
    if attacks and result.recall < min_recall:
        click.echo(
            f"lockgate: recall {result.recall:.3f} at FPR <= {max_fpr} is below "
            f"--min-recall {min_recall}",
            err=True,
        )
        sys.exit(NOT_MET)
