"""The terminal side of `fba implement`: the model's run streamed (text, tools, rounds, each
verification), the final report (what was verified and what was not), inline answers to the
model's questions, and the confirmation of an unverified change."""

from __future__ import annotations

import json
import re

from agent.console import Terminal, escape
from agent.console.stream import StreamPrinter, summarize_tests

MARKS = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "not run": "[yellow]–[/]", "warning": "[yellow]![/]"}


class ImplementPrinter(StreamPrinter):
    """StreamPrinter plus round and verification lines (on stderr)."""

    def __call__(self, event) -> None:
        from agent.workflows.implement import RoundStarted, Verified, Verifying

        if isinstance(event, RoundStarted):
            self.close()
            what = "implementing the spec" if event.number == 1 else "fixing what verification found"
            self._note(f"[bold]round {event.number}:[/] {what}")
        elif isinstance(event, Verifying):
            self.close()
            self._note(f"[bold]verifying round {event.number}:[/] static checks, then the tests "
                       f"([dim]{escape(event.test_command)}[/]) in an isolated copy")
            self.activity.start("verifying the change")
        elif isinstance(event, Verified):
            self.close()
            self._note(f"[bold]verification after round {event.number}:[/] {checks_markup(event.verification)}")
        else:
            super().__call__(event)


def checks_markup(verification) -> str:
    """`✓ parse  ✓ checks  ✓ schema  ✓ tests (2 passed in 0.4 s)`: each check with why it failed."""
    return "  ".join(f"{MARKS[c.status]} {escape(check_label(c))}" for c in verification.checks)


def check_label(check) -> str:
    """A check's name with a few words on what it gave."""
    if check.status == "not run":
        return check.name
    if check.name == "tests":
        return f"tests ({summarize_tests(check.detail)})"
    if check.status == "passed":
        return check.name
    if check.name == "changes":
        return "changes (the agent created or edited no file)"
    if check.name == "parse":
        return "parse (a changed file does not parse)"
    new = re.match(r"(\d+) new finding", check.detail)
    if check.name == "checks" and new:
        return f"checks ({new.group(1)} new finding{'s' if new.group(1) != '1' else ''} at or above medium)"
    if check.name == "schema":
        return "schema (a table model changed without a migration)" if check.status == "failed" else "schema (no migrations to check)"
    return check.name


def verdict_markup(result) -> str:
    """One line: verified or NOT verified, after how many rounds, and each check."""
    title = "[green]verified[/]" if result.verified else "[red]NOT verified[/]"
    rounds = f"after {result.rounds} round{'s' if result.rounds != 1 else ''}"
    return f"{title} {rounds}: {checks_markup(result.verification)}"


def print_report(term: Terminal, result) -> None:
    """What was verified and what was not, with the evidence of failures (stderr)."""
    verification = result.verification
    if result.questions:
        term.err.print(f"[yellow]stopped: the agent has {len(result.questions)} question(s) for you; nothing was written[/]")
        return
    if verification is None:
        term.err.print(f"[yellow]not verified: the run stopped ({escape(result.stop_reason)}) before any verification[/]")
        return
    term.err.print(verdict_markup(result), soft_wrap=True)
    for check in verification.checks:
        if check.status in ("failed", "warning") or (check.status == "not run" and not result.verified):
            term.err.print(f"  {MARKS[check.status]} {escape(check.name)}: {escape(_short(check.detail))}", soft_wrap=True)
    if not result.verified and result.stop_reason == "max_cost":
        term.warn("stopped by --max-cost before the change verified")
    for note in result.notes:
        term.warn(note)


def _short(text: str, lines: int = 25) -> str:
    kept = text.strip().splitlines()
    return "\n".join(kept[-lines:]) if len(kept) > lines else text.strip()


def questions_template(questions) -> str:
    """An answers file to fill in (YAML; the questions are JSON-quoted keys)."""
    lines = ["# Answers for fba implement --answers FILE: write each answer after its question."]
    for question in questions:
        lines.append(f"# why: {question['why']}" if question.get("why") else "#")
        if question.get("options"):
            lines.append(f"# options: {', '.join(question['options'])}")
        lines.append(f"{json.dumps(question['question'], ensure_ascii=False)}: \"\"")
    return "\n".join(lines) + "\n"


def ask_questions(term: Terminal, questions) -> dict[str, str]:
    """Ask each question on the terminal; returns question -> answer."""
    from rich.prompt import Prompt

    answers = {}
    term.err.print(f"\n[bold]The agent has {len(questions)} question(s):[/]")
    for question in questions:
        term.err.print(f"\n[bold]{escape(question['question'])}[/]", soft_wrap=True)
        if question.get("why"):
            term.err.print(f"[dim]why: {escape(question['why'])}[/]", soft_wrap=True)
        options = question.get("options") or []
        for number, option in enumerate(options, start=1):
            term.err.print(f"  {number}. {escape(option)}", soft_wrap=True)
        reply = ""
        while not reply.strip():
            reply = Prompt.ask("answer" + (" (number or text)" if options else ""), console=term.err)
        reply = reply.strip()
        answer = options[int(reply) - 1] if reply.isdigit() and 0 < int(reply) <= len(options) else reply
        answers[question["question"]] = answer
        term.err.print(f"  [green]→[/] {escape(answer)}", soft_wrap=True)
    return answers


class DecisionUI:
    """implement's change flow: the diff (paged when long), then the verification verdict repeated
    right above the question, so the prompt never comes without it."""

    def __init__(self, console, result) -> None:
        self.console = console
        self.result = result

    @property
    def interactive(self) -> bool:
        return self.console.interactive

    def preview(self, diff, stats, validation) -> None:
        self.console.preview(diff, stats, validation)

    def confirm(self, question: str) -> bool:
        term = self.console.term
        if self.result.verification is not None:
            term.err.print(verdict_markup(self.result), soft_wrap=True)
        if self.result.verified:
            return self.console.confirm(question)
        return self.console.confirm(f"Apply the unverified change anyway? {question}")

    def note(self, message: str) -> None:
        self.console.note(message)
