"""Rendering a model run as it happens: the answer streams to stdout; tool calls, retries and the
usage/cost footer go to stderr (so `fba ask ... > answer.md` captures only the answer)."""

from __future__ import annotations

from agent.console import Terminal, escape
from agent.llm.events import (
    Event,
    Redacted,
    Retrying,
    StreamDiscarded,
    TextDelta,
    ToolFinished,
)
from agent.types import Usage


class StreamPrinter:
    """An EventSink that prints events; call `finish()` at the end for the footer."""

    def __init__(self, term: Terminal, stream_text: bool = True) -> None:
        self.term = term
        self.stream_text = stream_text
        self.redactions = 0
        self._mid_line = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, TextDelta) and self.stream_text:
            self.term.write(event.text)
            self._mid_line = not event.text.endswith("\n")
        elif isinstance(event, ToolFinished):
            self._end_line()
            mark = f" [red]✗ {escape(event.error)}[/]" if event.is_error else ""
            self._note(f"[dim]  ↳ {escape(event.name)}({escape(event.summary)})[/]{mark}")
        elif isinstance(event, StreamDiscarded):
            self._end_line()
            self.term.warn(f"the answer was cut off ({event.reason}); the partial text above is void, resending")
        elif isinstance(event, Retrying):
            self._end_line()
            self.term.warn(f"retrying ({event.reason}), attempt {event.attempt}")
        elif isinstance(event, Redacted):
            self.redactions += event.count

    def _note(self, markup: str) -> None:
        if not self.term.quiet:
            self.term.err.print(markup, highlight=False, soft_wrap=True)

    def _end_line(self) -> None:
        if self._mid_line:
            self.term.write("\n")
            self._mid_line = False

    def finish(self, model: str, usage: Usage, stop_reason: str) -> None:
        """End the streamed answer; then the stop notice, redaction count and totals (not with --quiet)."""
        self._end_line()
        if stop_reason in STOP_NOTES:
            self.term.warn(STOP_NOTES[stop_reason])
        if self.redactions:  # shown even with --quiet: the user should know what the model did not see
            plural = "s" if self.redactions != 1 else ""
            self.term.err.print(f"[yellow]note:[/] redacted {self.redactions} secret-looking value{plural} "
                                "before sending text to the model", highlight=False, soft_wrap=True)
        if not self.term.quiet:
            self.term.err.print(f"[dim]{escape(usage_line(model, usage))}[/]", highlight=False, soft_wrap=True)


STOP_NOTES = {
    "max_cost": "stopped: the next request would pass --max-cost",
    "max_turns": "stopped: too many model turns; the answer may be incomplete",
    "max_tokens": "stopped: the answer reached the output token limit",
    "refusal": "the model declined to answer",
}


def usage_line(model: str, usage: Usage) -> str:
    cost = f"${usage.cost_usd:.4f}" if usage.cost_known else "cost unknown (no price for this model)"
    return (f"{model} · {usage.requests} request{'s' if usage.requests != 1 else ''} · "
            f"{usage.input_tokens:,} in · {usage.output_tokens:,} out · "
            f"{usage.cache_creation_input_tokens:,} cache write · {usage.cache_read_input_tokens:,} cache read · {cost}")
