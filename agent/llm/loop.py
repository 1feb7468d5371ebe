"""The generic tool-use loop shared by ask, review, implement and chat.

    result = run_tool_loop(client, model, prompt, "question", tools, Limits(max_cost=0.5), on_event)

One turn = one model request. When the model asks for tools, the loop runs them and sends the
`tool_result` blocks back (`is_error: true` for a tool's `FbaError`), until the model ends its turn
(`end_turn`), `limits.max_turns` requests were made, or the next request's estimated input cost
would take the run past `limits.max_cost` (checked BEFORE sending). `LoopResult.stop_reason` says
which: the API's stop reason, `max_turns` or `max_cost`.

Safety: every text the loop sends (system prompt parts, the user's message, every tool result) goes
through `agent.context.redact.redact` first, with the client's API key as a known secret (a test
that prints it, even reversed, does not send it back); the count is reported as `Redacted` events
and in the result. The stored `messages` are the redacted ones.

Prompt caching: requests are laid out tools -> system -> messages, with `cache_control` ephemeral
breakpoints (at most 4) on the last tool, on the stable system prefix (persona + task + checklist),
on the repo context block when there is one, and on the last message block, so each request reads
the previous one's prefix from the cache.

To continue a conversation (chat), pass the previous `LoopResult.messages` as `history`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from agent.context.redact import redact
from agent.errors import FbaError, ModelError
from agent.llm.client import ModelClient
from agent.llm.events import (
    Event,
    EventSink,
    MessageStarted,
    Redacted,
    RequestDone,
    RequestStarted,
    StreamDiscarded,
    TextDelta,
    ToolFinished,
    ToolInputDelta,
    ToolRunning,
)
from agent.llm.models import Price, price_for, usage_with_cost
from agent.llm.tools import Tool, summarize_input
from agent.types import CHARS_PER_TOKEN, Usage

CACHE = {"type": "ephemeral"}


@dataclass(frozen=True)
class Prompt:
    """The system prompt in parts, most stable first: the cacheable prefix of every request."""

    persona: str
    task: str = ""
    checklist: str = ""
    context: str = ""  # stable repo context (file tree, spec); cached separately


@dataclass(frozen=True)
class Limits:
    """When the loop stops on its own: model requests, total USD, output tokens per response."""

    max_turns: int = 25
    max_cost: float | None = None  # USD for the whole loop
    max_tokens: int = 8192  # per response


@dataclass(frozen=True)
class ToolCall:
    """A tool call the loop ran (for the store and summaries)."""

    name: str
    input: dict[str, Any]
    is_error: bool
    output_chars: int


@dataclass
class LoopResult:
    """What a loop produced. `messages` is the whole conversation (history + this run, redacted);
    `text` the last reply's text; `usage` summed over this run's requests."""

    messages: list[dict[str, Any]]
    text: str
    usage: Usage
    stop_reason: str
    redactions: int = 0
    tool_calls: list[ToolCall] = field(default_factory=list)


def run_tool_loop(
    client: ModelClient,
    model: str,
    prompt: Prompt,
    user_text: str,
    tools: Sequence[Tool],
    limits: Limits,
    on_event: EventSink,
    history: Sequence[dict[str, Any]] = (),
) -> LoopResult:
    """Run the model with tools until it ends its turn or a limit stops it."""
    price = price_for(model)
    if limits.max_cost is not None and price is None:
        raise ModelError(f"--max-cost needs a known price, and model '{model}' has none in fba's price table")
    scrub = _Scrubber(on_event, (client.api_key,))
    system = system_blocks(prompt, scrub)
    messages = [*history]
    _add_user_blocks(messages, [{"type": "text", "text": scrub(user_text, "your message")}])
    by_name = {t.name: t for t in tools}
    result = LoopResult(messages, "", Usage(), "")
    previous: tuple[Usage, int] | None = None  # the last request's usage and size in characters
    for _turn in range(limits.max_turns):
        request = build_request(model, system, tools, messages, limits.max_tokens)
        size = len(json.dumps(request, ensure_ascii=False))
        if limits.max_cost is not None and price is not None:
            if result.usage.cost_usd + estimate_input_cost(size, previous, price) > limits.max_cost:
                result.stop_reason = "max_cost"
                break
        reply = _send(client, model, request, size, on_event)
        previous = (reply.usage, size)
        result.usage += reply.usage
        messages.append({"role": "assistant", "content": list(reply.content)})
        result.text = reply.text
        result.stop_reason = reply.stop_reason
        if reply.stop_reason != "tool_use" or not reply.tool_uses:
            break
        results = [_run_tool(by_name, use, scrub, on_event, result.tool_calls) for use in reply.tool_uses]
        _add_user_blocks(messages, results)
    else:
        result.stop_reason = "max_turns"
    result.redactions = scrub.count
    return result


def _send(client: ModelClient, model: str, request: dict[str, Any], size: int, on_event: EventSink):
    """`client.send`, counting a request that never finishes: the API bills what was sent."""
    on_event(RequestStarted(size // CHARS_PER_TOKEN))
    in_flight = _InFlight(model, size, on_event)
    try:
        return client.send(request, in_flight)
    except BaseException as exc:
        if in_flight.started is not None or isinstance(exc, KeyboardInterrupt):
            on_event(RequestDone(in_flight.cut_usage(), "interrupted"))
        raise


class _InFlight:
    """An EventSink around one request: remembers what the API counted at `message_start` and how
    much streamed, so a cut request (Ctrl-C, a broken stream that is resent) is still counted."""

    def __init__(self, model: str, size: int, on_event: EventSink) -> None:
        self.model, self.size, self.on_event = model, size, on_event
        self.started: MessageStarted | None = None
        self.streamed_chars = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, MessageStarted):
            self.started = event
        elif isinstance(event, TextDelta):
            self.streamed_chars += len(event.text)
        elif isinstance(event, ToolInputDelta):
            self.streamed_chars += event.chars
        elif isinstance(event, StreamDiscarded):
            if self.started is not None:
                self.on_event(RequestDone(self.cut_usage(), "interrupted"))
            self.started, self.streamed_chars = None, 0
        self.on_event(event)

    def cut_usage(self) -> Usage:
        """The input the API reported (else estimated from the request's size) and the output
        that streamed (estimated from its characters)."""
        output = -(-self.streamed_chars // CHARS_PER_TOKEN)
        if self.started is None:
            usage = usage_with_cost(self.model, self.size // CHARS_PER_TOKEN, output, 0, 0)
            return replace(usage, estimated=True)
        started = self.started
        return usage_with_cost(self.model, started.input_tokens, output, started.cache_creation_input_tokens,
                               started.cache_read_input_tokens)


def system_blocks(prompt: Prompt, scrub: Callable[[str, str], str]) -> list[dict[str, Any]]:
    """System blocks with cache breakpoints after the stable prefix and after the repo context."""
    stable = [p for p in (prompt.persona, prompt.task, prompt.checklist) if p.strip()]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": scrub(p, "system prompt")} for p in stable]
    if blocks:
        blocks[-1]["cache_control"] = CACHE
    if prompt.context.strip():
        blocks.append({"type": "text", "text": scrub(prompt.context, "repository context"), "cache_control": CACHE})
    return blocks


def build_request(model: str, system: list[dict[str, Any]], tools: Sequence[Tool],
                  messages: list[dict[str, Any]], max_tokens: int) -> dict[str, Any]:
    """The Messages API request: cached tool schemas, system blocks, and a moving breakpoint on the
    last message block (the stored messages are not modified)."""
    schemas = [t.schema() for t in tools]
    if schemas:
        schemas[-1] = {**schemas[-1], "cache_control": CACHE}
    sent = [dict(m) for m in messages]
    if sent:
        content = list(sent[-1]["content"])
        content[-1] = {**content[-1], "cache_control": CACHE}
        sent[-1]["content"] = content
    request: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "system": system, "messages": sent}
    if schemas:
        request["tools"] = schemas
    return request


def estimate_input_cost(size: int, previous: tuple[Usage, int] | None, price: Price) -> float:
    """USD the next request's input (`size` characters) will probably cost.

    The first request writes everything to the cache. A later one resends the previous prompt (its
    token count is known from the API) plus what was added since (estimated from characters): if
    the previous request used the cache, the old prompt is read from it and the new part written;
    otherwise everything is billed as plain input.
    """
    if previous is None:
        return price.cost(0, 0, size // CHARS_PER_TOKEN, 0)
    usage, previous_size = previous
    prompt = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    added = max(size - previous_size, 0) // CHARS_PER_TOKEN
    if usage.cache_creation_input_tokens or usage.cache_read_input_tokens:
        return price.cost(0, 0, added, prompt)
    return price.cost(prompt + added, 0, 0, 0)


def _add_user_blocks(messages: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> None:
    """Append user content, merging into a trailing user message (a stopped loop leaves one)."""
    if messages and messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": [*_as_blocks(messages[-1]["content"]), *blocks]}
    else:
        messages.append({"role": "user", "content": blocks})


def _as_blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _run_tool(by_name: dict[str, Tool], use: dict[str, Any], scrub: "_Scrubber", on_event: EventSink,
              calls: list[ToolCall]) -> dict[str, Any]:
    name, tool_input = use["name"], use.get("input") or {}
    tool = by_name.get(name)
    on_event(ToolRunning(name, tool_input if isinstance(tool_input, dict) else {}))
    try:
        if tool is None:
            raise FbaError(f"unknown tool '{name}' (available: {', '.join(sorted(by_name)) or 'none'})")
        if not isinstance(tool_input, dict):
            raise FbaError("tool input must be a JSON object")
        output, is_error = tool.run(tool_input), False
    except FbaError as exc:
        output, is_error = str(exc), True
    output = scrub(output, f"{name} result")
    calls.append(ToolCall(name, tool_input if isinstance(tool_input, dict) else {}, is_error, len(output)))
    summary = summarize_input(tool_input) if isinstance(tool_input, dict) else ""
    on_event(ToolFinished(name, summary, is_error, output if is_error else "",
                          tool_input if isinstance(tool_input, dict) else {}, "" if is_error else output))
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": use["id"], "content": output}
    if is_error:
        block["is_error"] = True
    return block


class _Scrubber:
    """Redacts text on its way to the model, counting and reporting what it replaced."""

    def __init__(self, on_event: EventSink, known: Sequence[str] = ()) -> None:
        self.on_event = on_event
        self.known = tuple(known)  # fba's own secrets (the API key): redacted wherever they appear
        self.count = 0

    def __call__(self, text: str, where: str) -> str:
        clean, count = redact(text, self.known)
        if count:
            self.count += count
            self.on_event(Redacted(count, where))
        return clean
