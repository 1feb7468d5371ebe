"""Events the model layer reports while it works, for the console to render as they arrive.

A workflow passes one `EventSink` (any callable taking an event) down to the client and the tool
loop; nothing here prints. Events are plain frozen values, safe to collect in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

from agent.types import Usage


@dataclass(frozen=True)
class RequestStarted:
    """A model request was sent (about `input_tokens` of input); nothing has streamed back yet."""

    input_tokens: int


@dataclass(frozen=True)
class MessageStarted:
    """The API accepted the request and counted its input (`message_start`)."""

    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


@dataclass(frozen=True)
class TextDelta:
    """A piece of the model's answer, streamed."""

    text: str


@dataclass(frozen=True)
class ToolStarted:
    """The model began a tool call (its input is still streaming)."""

    name: str
    id: str


@dataclass(frozen=True)
class ToolInputDelta:
    """Part of a tool call's input streamed (`chars` characters of JSON)."""

    chars: int


@dataclass(frozen=True)
class ToolRunning:
    """The loop is about to run a tool with this input."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolFinished:
    """The loop ran a tool: a one-line summary of the input and whether it failed; `input` and
    `output` let the console say what happened (lines read, lines changed, tests passed)."""

    name: str
    summary: str
    is_error: bool
    error: str = ""
    input: Mapping[str, Any] = field(default_factory=dict)
    output: str = ""


@dataclass(frozen=True)
class Retrying:
    """The SDK is sending a failed request again (429, 529, 5xx, connection error), after waiting
    `waited` seconds since the failure (its backoff, or what `retry-after` asked for)."""

    attempt: int
    reason: str
    waited: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StreamDiscarded:
    """A stream broke mid-answer: the partial output shown so far is void; the request is resent."""

    reason: str


@dataclass(frozen=True)
class RequestDone:
    """One model request finished; `usage` is that request's tokens and cost. A request cut off
    (Ctrl-C, a broken stream) is reported too, with stop reason `interrupted` and the usage the API
    reported at its start, or fba's estimate (`usage.estimated`)."""

    usage: Usage
    stop_reason: str


@dataclass(frozen=True)
class Redacted:
    """Secret-looking values were replaced before text was sent to the model."""

    count: int
    where: str


Event = Union[RequestStarted, MessageStarted, TextDelta, ToolStarted, ToolInputDelta, ToolRunning, ToolFinished,
              Retrying, StreamDiscarded, RequestDone, Redacted]
EventSink = Callable[[Event], None]


def ignore_events(event: Event) -> None:
    """An EventSink that drops everything (quiet runs, tests that only check results)."""
