"""The Anthropic client: the only module that imports `anthropic` (lazily, on the first request).

    client = ModelClient.from_config(config)          # ModelError if ANTHROPIC_API_KEY is not set
    reply = client.send(request, on_event)             # request: kwargs of messages.create

`send` streams the answer, reporting `TextDelta` / `ToolStarted` / `Retrying` / `StreamDiscarded` /
`RequestDone` events to `on_event`, and returns a `Reply` (plain-dict content blocks, stop reason,
priced usage).

Resilience: the SDK itself retries 429/529/5xx and dropped connections (honouring `retry-after-ms`
/ `retry-after`), `max_retries` times; we only watch those retries (a middleware) to report them and
to say truthfully how many were made. What the SDK does not retry is a stream that breaks once the
answer has started. We recognise that by *when* it happens, not by one exception type (the SDK has
raised a bare transport error, `httpx2.RemoteProtocolError`, up to 2.16 and `APIConnectionError` from
2.17): any connection failure after the response began, an `event: error` mid-stream (an
`APIStatusError` with status 200) or a stream that ends without `message_stop`. Those we resend whole,
up to `stream_retries` times, after telling the sink that the partial output is void. Every failure
that is left becomes a `ModelError` with one clear line.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any, Mapping

from agent.errors import ModelError
from agent.llm.events import (
    EventSink,
    MessageStarted,
    RequestDone,
    Retrying,
    StreamDiscarded,
    TextDelta,
    ToolInputDelta,
    ToolStarted,
)
from agent.llm.models import usage_with_cost
from agent.types import Usage

# `event: error` types that mean "try again", as opposed to a request the API will never accept.
TRANSIENT_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


@dataclass(frozen=True)
class Reply:
    """A finished model answer: content blocks as API JSON (ready to send back), stop reason, usage."""

    content: tuple[dict[str, Any], ...]
    stop_reason: str
    usage: Usage
    model: str

    @property
    def text(self) -> str:
        return "".join(b["text"] for b in self.content if b.get("type") == "text")

    @property
    def tool_uses(self) -> tuple[dict[str, Any], ...]:
        return tuple(b for b in self.content if b.get("type") == "tool_use")


BATCH_DISCOUNT = 0.5  # Message Batches cost half the standard price


@dataclass(frozen=True)
class BatchStatus:
    """Where a Message Batch is: `processing_status` is in_progress, canceling or ended."""

    id: str
    processing_status: str
    processing: int
    succeeded: int
    errored: int
    lost: int  # canceled or expired

    @property
    def ended(self) -> bool:
        return self.processing_status == "ended"


class _BrokenStream(Exception):
    """A stream that cannot be used (cut, or an error event mid-way); the request may be resent."""


class ModelClient:
    """Sends Messages API requests with streaming, retries and error mapping."""

    def __init__(self, api_key: str, base_url: str | None = None, max_retries: int = 4,
                 timeout: float = 600.0, stream_retries: int = 2) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.max_retries = max_retries
        self.timeout = timeout
        self.stream_retries = stream_retries
        self._sdk: Any = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | Any, environ: Mapping[str, str] | None = None) -> "ModelClient":
        """A client from the environment (key, base URL) and config (`max-retries`, `timeout`)."""
        environ = os.environ if environ is None else environ
        api_key = environ.get("ANTHROPIC_API_KEY", "").strip()
        if not api_key:
            raise ModelError("ANTHROPIC_API_KEY is not set: export your Anthropic API key to use the model")
        return cls(
            api_key=api_key,
            base_url=environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=int(config.get("max-retries", 4)),
            timeout=float(config.get("timeout", 600.0)),
        )

    def _client(self) -> Any:
        if self._sdk is None:
            import anthropic

            self._sdk = anthropic.Anthropic(api_key=self.api_key, base_url=self.base_url,
                                            max_retries=self.max_retries, timeout=self.timeout)
        return self._sdk

    def send(self, request: Mapping[str, Any], on_event: EventSink) -> Reply:
        """Stream one request to completion; resend it whole if the stream breaks mid-way."""
        import anthropic

        retries = _RetryWatch(on_event)
        client = self._client().with_middleware(retries.middleware)
        attempts = 0
        while True:
            attempts += 1
            try:
                return self._stream_once(client, request, on_event)
            except _BrokenStream as broken:
                if attempts > self.stream_retries:
                    raise ModelError(f"the API stream broke on each of {attempts} attempts ({broken}); "
                                     "try again later") from None
                on_event(StreamDiscarded(str(broken)))
            except anthropic.APIError as exc:
                raise ModelError(describe_api_error(exc, request.get("model", "?"), self, retries.taken)) from None

    # -- Message Batches: one request per item, half price, results when the whole batch ends --

    def create_batch(self, requests: list[dict[str, Any]]) -> str:
        """Submit `[{"custom_id": ..., "params": <messages.create kwargs>}]`; returns the batch id."""
        return self._batch_call(lambda batches: batches.create(requests=requests)).id

    def batch_status(self, batch_id: str) -> BatchStatus:
        batch = self._batch_call(lambda batches: batches.retrieve(batch_id))
        counts = batch.request_counts
        return BatchStatus(batch.id, str(batch.processing_status), counts.processing,
                           counts.succeeded, counts.errored, counts.canceled + counts.expired)

    def batch_results(self, batch_id: str) -> dict[str, Reply | str]:
        """custom_id -> the Reply (priced at the batch discount), or why that request failed."""
        results: dict[str, Reply | str] = {}
        for item in self._batch_call(lambda batches: list(batches.results(batch_id))):
            result = item.result
            if result.type == "succeeded":
                reply = _reply(result.message)
                results[item.custom_id] = replace(reply, usage=replace(reply.usage, cost_usd=reply.usage.cost_usd * BATCH_DISCOUNT))
            else:
                error = getattr(getattr(result, "error", None), "error", None)
                results[item.custom_id] = f"{result.type}: {getattr(error, 'message', '') or 'no answer'}"
        return results

    def _batch_call(self, call: Any) -> Any:
        import anthropic

        try:
            return call(self._client().messages.batches)
        except anthropic.APIError as exc:
            raise ModelError(describe_api_error(exc, "batch", self, None)) from None

    def _stream_once(self, client: Any, request: Mapping[str, Any], on_event: EventSink) -> Reply:
        import anthropic

        # Opening the stream sends the request: the SDK's own retries happen here and what it raises is
        # final. Only what fails after the response began is a broken stream.
        with client.messages.stream(**request) as stream:
            try:
                for event in stream:
                    _forward(event, on_event)
                message = stream.get_final_message()
            except anthropic.APIStatusError as exc:
                if exc.status_code == 200 and _error_type(exc) in TRANSIENT_STREAM_ERRORS:
                    raise _BrokenStream(f"error event mid-answer: {_error_type(exc)}") from None
                raise
            except Exception as exc:
                if _is_connection_failure(exc):
                    raise _BrokenStream(f"connection cut mid-answer: {_root_cause_name(exc)}") from None
                raise
        if message.stop_reason is None:
            raise _BrokenStream("the stream ended before message_stop")
        reply = _reply(message)
        on_event(RequestDone(reply.usage, reply.stop_reason))
        return reply


def _is_connection_failure(exc: BaseException) -> bool:
    """A dropped or timed-out connection, as the SDK wraps it (2.17+) or as the transport raises it."""
    import anthropic
    import httpx2

    return isinstance(exc, (anthropic.APIConnectionError, httpx2.TransportError))


def _root_cause_name(exc: BaseException) -> str:
    """The transport's own exception name (`RemoteProtocolError`), under any SDK wrapping."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__


def _forward(event: Any, on_event: EventSink) -> None:
    if event.type == "text":
        on_event(TextDelta(event.text))
    elif event.type == "input_json":
        on_event(ToolInputDelta(len(event.partial_json)))
    elif event.type == "content_block_start" and event.content_block.type == "tool_use":
        on_event(ToolStarted(event.content_block.name, event.content_block.id))
    elif event.type == "message_start":
        usage = event.message.usage
        on_event(MessageStarted(usage.input_tokens or 0, usage.cache_creation_input_tokens or 0,
                                usage.cache_read_input_tokens or 0))


class _RetryWatch:
    """SDK middleware (runs once per HTTP attempt): reports the attempts the SDK retries, counts them."""

    def __init__(self, on_event: EventSink) -> None:
        self.on_event = on_event
        self.taken = 0  # retries the SDK made for the latest request
        self.last_failure = ""
        self.failed_at: float | None = None

    def middleware(self, request: Any, call_next: Any) -> Any:
        self.taken = request.retries_taken
        if request.retries_taken:
            waited = None if self.failed_at is None else time.monotonic() - self.failed_at
            self.on_event(Retrying(request.retries_taken, self.last_failure or "request failed", waited))
        try:
            response = call_next(request)
        except Exception as exc:
            self._failed(f"connection error: {type(exc).__name__}")
            raise
        if response.status_code >= 400:
            self._failed(f"HTTP {response.status_code}")
        return response

    def _failed(self, why: str) -> None:
        self.last_failure = why
        self.failed_at = time.monotonic()


def _reply(message: Any) -> Reply:
    usage = message.usage
    return Reply(
        content=tuple(_block(b) for b in message.content),
        stop_reason=str(message.stop_reason),
        usage=usage_with_cost(
            str(message.model),
            usage.input_tokens or 0,
            usage.output_tokens or 0,
            usage.cache_creation_input_tokens or 0,
            usage.cache_read_input_tokens or 0,
        ),
        model=str(message.model),
    )


def _block(block: Any) -> dict[str, Any]:
    """A response content block as the JSON to send back in the next request."""
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return block.model_dump(mode="json", exclude_none=True, exclude={"parsed_output"})


def _error_type(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            return str(error.get("type", ""))
    return ""


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"]).splitlines()[0]
    return str(getattr(exc, "message", exc)).splitlines()[0]


# What the user reads for an SDK error: the line of the first kind (an `anthropic` class) it is.
_API_ERROR_LINES = (
    ("AuthenticationError", "the API key was rejected (401): check ANTHROPIC_API_KEY"),
    ("PermissionDeniedError", "the API key may not use this (403): {message}"),
    ("NotFoundError", "model '{model}' was not found (404): check --model or the `models` config"),
    ("RateLimitError", "rate limited by the API (429) {retried}; try again later"),
    ("InternalServerError", "the API is unavailable ({status}: {message}) {retried}; try again later"),
    ("APIStatusError", "the API refused the request ({status}): {message}"),
    ("APITimeoutError", "the API did not answer within {timeout:g}s {retried}"),
    ("APIConnectionError", "cannot reach the API at {where} {retried}: {cause}"),
)


def describe_api_error(exc: Any, model: str, client: ModelClient, retries: int | None) -> str:
    """One line for an SDK error that is left after the SDK's own retries (`retries` made, if known)."""
    import anthropic

    if retries is None:
        retried = f"after up to {client.max_retries} retries"
    else:
        retried = "with no retry" if retries == 0 else f"after {retries} {'retry' if retries == 1 else 'retries'}"
    template = next((line for kind, line in _API_ERROR_LINES if isinstance(exc, getattr(anthropic, kind))),
                    "the API call failed: {message}")
    return template.format(
        model=model, retried=retried, timeout=client.timeout, status=getattr(exc, "status_code", None),
        where=client.base_url or "api.anthropic.com", cause=exc.__cause__ or exc,
        message=_error_message(exc) if "{message}" in template else "")
