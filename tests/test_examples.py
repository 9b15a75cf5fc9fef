"""The example CI workflow uses only commands and options the CLI has: a renamed flag would
otherwise break every user who copied it, silently, until their next pull request."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import yaml

from lockgate.cli import main

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "github-actions" / "eval-gate.yml"


def _commands() -> list[list[str]]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["eval"]["steps"]
    script = "\n".join(str(s.get("run", "")) for s in steps).replace("\\\n", " ")
    # Workflow expressions become a word, so the line splits the way a shell would split it.
    script = re.sub(r"\$\{\{[^}]*\}\}", "X", script)
    out = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|();&")
        lexer.wordchars += "$@%=.-/:*"
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            if token == "lockgate":
                words = []
                for t in tokens[i + 1 :]:
                    if t and t[0] in "|();&":
                        break
                    words.append(t)
                out.append(words)
    return out


def test_every_lockgate_command_and_option_of_the_workflow_exists() -> None:
    commands = _commands()
    assert len(commands) >= 5
    for words in commands:
        group: click.Command = main
        args = list(words)
        while isinstance(group, click.Group) and args and not args[0].startswith("-"):
            sub = group.get_command(click.Context(group), args[0])
            assert sub is not None, f"no command {words}"
            group, args = sub, args[1:]
        known = {o for p in group.params for o in getattr(p, "opts", [])}
        for word in args:
            if word.startswith("--"):
                assert word in known, f"{' '.join(words)}: no option {word}"
