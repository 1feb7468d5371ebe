"""Showing a change set before it is written: the diff (coloured on a terminal, raw text otherwise,
so a piped diff stays a valid patch), a per-file summary, and the static findings the change adds
or removes. `ChangeConsole` is what `agent.workflows.changes` talks to."""

from __future__ import annotations

import sys

from agent.console import Terminal, escape, safe

LINE_STYLES = (
    ("diff --git", "bold"),
    ("new file mode", "bold"),
    ("deleted file mode", "bold"),
    ("+++", "bold"),
    ("---", "bold"),
    ("@@", "cyan"),
    ("+", "green"),
    ("-", "red"),
    ("\\", "dim"),
)


def diff_style(line: str) -> str | None:
    return next((style for prefix, style in LINE_STYLES if line.startswith(prefix)), None)


def print_diff(console, diff: str) -> None:
    """`diff` on `console`: styled line by line on a terminal (through the pager when it is taller
    than the screen and the user can answer it), as plain text otherwise. Control characters in the
    changed files show as visible escapes either way (`--patch-out` writes the exact bytes)."""
    if not console.is_terminal:
        console.file.write(safe(diff))
        console.file.flush()
        return
    from rich.text import Text

    lines = [Text(safe(line), style=diff_style(line) or "") for line in diff.splitlines()]
    if len(lines) > console.height and sys.stdin.isatty() and _page(console, lines):
        return
    for line in lines:
        console.print(line, soft_wrap=True)


def _page(console, lines) -> bool:
    """Show `lines` through the user's pager as git does: $GIT_PAGER, $PAGER, else `less` with
    LESS=FRX (quit when it fits, keep colours, leave the text on screen). False when no pager runs."""
    import os
    import shlex
    import signal
    import subprocess

    pager = os.environ.get("GIT_PAGER", os.environ.get("PAGER", "less")).strip()
    if not pager or pager == "cat":
        return False
    with console.capture() as captured:
        for line in lines:
            console.print(line, soft_wrap=True)
    environ = {**os.environ, "LESS": os.environ.get("LESS", "FRX"), "LV": os.environ.get("LV", "-c")}
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the pager meanwhile
    try:
        subprocess.run(shlex.split(pager), input=captured.get(), text=True, env=environ, check=False)
    except (OSError, ValueError):
        return False
    finally:
        signal.signal(signal.SIGINT, previous)
    return True


def stats_lines(stats) -> list[str]:
    """One line per file (`M app/x.py  +3 -1`) and a total."""
    marks = {"create": "A", "modify": "M", "delete": "D"}
    lines = [f"  {marks[s.kind]} {s.path}  +{s.added} -{s.removed}" for s in stats]
    added, removed = sum(s.added for s in stats), sum(s.removed for s in stats)
    files = len(stats)
    lines.append(f"{files} file{'s' if files != 1 else ''} changed, +{added} -{removed}")
    return lines


class ChangeConsole:
    """The terminal side of the change flow: preview, confirmation prompt and notes.

    The diff goes to stdout unless `diff_to_stderr` (when stdout carries a machine-readable report);
    summary, findings and notes go to stderr.
    """

    def __init__(self, term: Terminal, diff_to_stderr: bool = False) -> None:
        self.term = term
        self.diff_to_stderr = diff_to_stderr

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and sys.stderr.isatty()

    def preview(self, diff: str, stats, validation) -> None:
        print_diff(self.term.err if self.diff_to_stderr else self.term.out, diff)
        for line in stats_lines(stats):
            self.term.err.print(escape(line), style="bold" if not line.startswith("  ") else None)
        for finding in validation.new:
            self.term.warn(f"new finding after the change: {finding.path}:{finding.line} {finding.rule} {finding.message}")
        for guard in validation.guarded:  # shown even with --quiet: they need the user's own decision
            self.term.err.print(f"[bold yellow]guarded:[/] {escape(str(guard))}", soft_wrap=True)
        if validation.resolved and not self.term.quiet:
            count = len(validation.resolved)
            self.term.err.print(f"[green]resolves {count} finding{'s' if count != 1 else ''}[/]")

    def confirm(self, question: str) -> bool:
        return self.term.confirm(question, default=False)

    def note(self, message: str) -> None:
        self.term.err.print(escape(message))
