"""A loopback fake of the Anthropic Messages API for tests: real HTTP on 127.0.0.1, port 0.

The real SDK reaches it through `ANTHROPIC_BASE_URL`, in-process or from a CLI subprocess:

    with FakeAnthropic() as api:
        api.script(tool_reply(("read_file", {"path": "app.py"})), text_reply("Looks fine."))
        env = {**os.environ, **api.env()}            # ANTHROPIC_BASE_URL + a test key
        ...run the code or `fba ask` with env...
        api.requests[0].body["system"]                # every request is recorded

Each `POST /v1/messages` consumes the next scripted step: a reply (`text_reply`, `tool_reply`),
answered as JSON or, when the request asks for it, as SSE with the real event sequence
(message_start, content_block_start, text_delta / input_json_delta split over several deltas,
content_block_stop, message_delta with stop_reason and usage, message_stop); or a fault
(`status_fault` for 429/529/500/401 with headers such as `retry-after-ms`, `cut_stream` that drops
the connection mid-answer, `error_event` that sends `event: error` mid-stream). A reply's
`delay` (seconds) is slept before each SSE event, for a slow answer a test can interrupt. With the script
used up it answers 400, so a test never hangs on an unexpected extra request.

Message Batches: `POST /v1/messages/batches` answers every request of the batch with the next
scripted step (a reply succeeds, a status fault errors); `GET /v1/messages/batches/{id}` says
`in_progress` for the first `batch_polls` retrievals, then `ended` with a `results_url`, and
`GET .../results` serves the JSONL results. Every call is recorded in `requests`.

Stdlib only; it lives with the tests, so the wheel never ships it (tests/test_wheel_contents.py).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE = {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


@dataclass(frozen=True)
class ReplyStep:
    """A scripted assistant message: content blocks, stop reason and the usage to report."""

    content: tuple[dict[str, Any], ...]
    stop_reason: str
    usage: dict[str, int]
    delay: float = 0.0  # seconds slept before each streamed event


@dataclass(frozen=True)
class StatusFault:
    """Answer with an HTTP error status and an API error body."""

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamFault:
    """Start streaming `reply`, then after `after_events` events either cut the connection
    (`error_type` empty) or send `event: error` with that error type."""

    reply: ReplyStep
    after_events: int
    error_type: str = ""


Step = ReplyStep | StatusFault | StreamFault


def _usage(usage: dict[str, int] | None) -> dict[str, int]:
    return {**DEFAULT_USAGE, **(usage or {})}


def text_reply(text: str, usage: dict[str, int] | None = None, stop_reason: str = "end_turn",
               delay: float = 0.0) -> ReplyStep:
    """The model answers with text and stops (streamed with `delay` seconds before each event)."""
    return ReplyStep(({"type": "text", "text": text},), stop_reason, _usage(usage), delay)


def tool_reply(*calls: tuple[str, dict[str, Any]], text: str = "", usage: dict[str, int] | None = None) -> ReplyStep:
    """The model calls tools, `(name, input)` each, optionally after some text."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for number, (name, tool_input) in enumerate(calls, start=1):
        blocks.append({"type": "tool_use", "id": f"toolu_fake_{number:02d}_{name}", "name": name, "input": tool_input})
    return ReplyStep(tuple(blocks), "tool_use", _usage(usage))


def status_fault(status: int, headers: dict[str, str] | None = None) -> StatusFault:
    """An HTTP error as the API sends it: 429 rate limit, 529 overloaded, 500, 401, ..."""
    error_type, message = {
        401: ("authentication_error", "invalid x-api-key"),
        429: ("rate_limit_error", "Number of requests has exceeded your rate limit"),
        500: ("api_error", "Internal server error"),
        529: ("overloaded_error", "Overloaded"),
    }.get(status, ("api_error", f"fake error {status}"))
    return StatusFault(status, error_type, message, dict(headers or {}))


def cut_stream(after_events: int = 4, reply: ReplyStep | None = None) -> StreamFault:
    """Stream part of a reply, then drop the connection without finishing the chunked body."""
    return StreamFault(reply or text_reply("This answer will be cut off half way through."), after_events)


def error_event(error_type: str = "overloaded_error", after_events: int = 4, reply: ReplyStep | None = None) -> StreamFault:
    """Stream part of a reply, then send `event: error` (status 200 already sent)."""
    return StreamFault(reply or text_reply("This answer meets an error event."), after_events, error_type)


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received: path, headers (lower-case names) and JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """The whole body as JSON text, for "this never appears anywhere" assertions."""
        return json.dumps(self.body, ensure_ascii=False)


def sse_events(step: ReplyStep, model: str, message_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The Messages API event sequence for a reply."""
    usage = step.usage
    start_usage = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**start_usage, "output_tokens": 1}}}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(step.content):
        events.extend(_block_events(index, block))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": step.stop_reason, "stop_sequence": None},
                                     "usage": {"output_tokens": usage["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if block["type"] == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"], 3)]
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": piece}
                  for piece in _pieces(json.dumps(block["input"]), 3)]
    events = [("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def _pieces(text: str, count: int) -> list[str]:
    """`text` split into about `count` non-empty pieces (streams deliver partial deltas)."""
    size = max(1, -(-len(text) // count))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def message_json(step: ReplyStep, model: str, message_id: str) -> dict[str, Any]:
    return {"id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": list(step.content), "stop_reason": step.stop_reason, "stop_sequence": None,
            "usage": dict(step.usage)}


class FakeAnthropic:
    """The fake server: `script()` steps, then read `requests`. Use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._steps: list[Step] = []
        self._lock = threading.Lock()
        self.batch_polls = 0  # retrievals of a batch that answer `in_progress` before it ends
        self.batches: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, api_key: str = "test-key") -> dict[str, str]:
        """Environment variables that point the SDK (and `fba`) at this server."""
        return {"ANTHROPIC_BASE_URL": self.url, "ANTHROPIC_API_KEY": api_key}

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._steps)

    def _next(self, request: RecordedRequest) -> tuple[int, Step | None]:
        with self._lock:
            self.requests.append(request)
            return len(self.requests), (self._steps.pop(0) if self._steps else None)

    def _create_batch(self, request: RecordedRequest, base: str) -> dict[str, Any]:
        """Answer every request of a new batch now with the next scripted steps."""
        with self._lock:
            self.requests.append(request)
            batch_id = f"msgbatch_fake_{len(self.batches) + 1:03d}"
            results = []
            for number, item in enumerate(request.body.get("requests", []), start=1):
                step = self._steps.pop(0) if self._steps else None
                model = str(item.get("params", {}).get("model", "claude-fake"))
                results.append({"custom_id": item.get("custom_id"), "result": _batch_result(step, model, f"{batch_id}_{number}")})
            self.batches[batch_id] = {"results": results, "polls_left": self.batch_polls}
            return _batch_json(batch_id, len(results), None, base)

    def _poll_batch(self, batch_id: str, base: str) -> dict[str, Any]:
        with self._lock:
            batch = self.batches[batch_id]
            ended = batch["polls_left"] <= 0
            batch["polls_left"] -= 1
            return _batch_json(batch_id, len(batch["results"]), batch["results"] if ended else None, base)

    def __enter__(self) -> "FakeAnthropic":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked SSE, so a cut stream is a real protocol error

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"unparsable": raw.decode("utf-8", "replace")}
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path.split("?")[0].rstrip("/") == "/v1/messages/batches":
                return self._send_json(200, fake._create_batch(RecordedRequest(self.path, headers, body), self._base()))
            number, step = fake._next(RecordedRequest(self.path, headers, body))
            model, message_id = str(body.get("model", "claude-fake")), f"msg_fake_{number:03d}"
            if step is None:
                self._send_json(400, _error("invalid_request_error", "fake API: no scripted reply left"))
            elif isinstance(step, StatusFault):
                self._send_json(step.status, _error(step.error_type, step.message), step.headers)
            elif isinstance(step, StreamFault):
                self._stream(sse_events(step.reply, model, message_id), step)
            elif body.get("stream"):
                self._stream(sse_events(step, model, message_id), None, step.delay)
            else:
                self._send_json(200, message_json(step, model, message_id))

        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake._lock:
                fake.requests.append(RecordedRequest(self.path, headers, {}))
            batch_id = path.removeprefix("/v1/messages/batches/").removesuffix("/results")
            batch = fake.batches.get(batch_id)
            if batch is None:
                return self._send_json(404, _error("not_found_error", f"no batch {batch_id}"))
            if path.endswith("/results"):
                data = "".join(json.dumps(line) + "\n" for line in batch["results"]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/binary")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self._send_json(200, fake._poll_batch(batch_id, self._base()))

        def _base(self) -> str:
            host, port = self.server.server_address[:2]
            return f"http://{host}:{port}"

        def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", "req_fake")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, events: list[tuple[str, dict[str, Any]]], fault: StreamFault | None,
                    delay: float = 0.0) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for sent, (name, data) in enumerate(events):
                    if fault is not None and sent == fault.after_events:
                        if not fault.error_type:
                            return self._cut()
                        self._chunk(f"event: error\ndata: {json.dumps(_error(fault.error_type, 'fake mid-stream error'))}\n\n")
                        break
                    time.sleep(delay)
                    self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away (an interrupted answer)

        def _chunk(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _cut(self) -> None:
            """Close the socket with the chunked body unfinished."""
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return Handler


def _batch_result(step: Step | None, model: str, message_id: str) -> dict[str, Any]:
    if isinstance(step, ReplyStep):
        return {"type": "succeeded", "message": message_json(step, model, message_id)}
    if isinstance(step, StatusFault):
        return {"type": "errored", "error": _error(step.error_type, step.message)}
    return {"type": "errored", "error": _error("invalid_request_error", "fake API: no scripted reply left")}


def _batch_json(batch_id: str, total: int, results: list[dict[str, Any]] | None, base: str) -> dict[str, Any]:
    """A MessageBatch object: in progress (`results` None) or ended with its result counts."""
    counts = {"processing": total if results is None else 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    for line in results or ():
        counts[line["result"]["type"]] += 1
    stamp = "2026-01-01T00:00:00Z"
    return {"id": batch_id, "type": "message_batch", "processing_status": "in_progress" if results is None else "ended",
            "request_counts": counts, "created_at": stamp, "expires_at": "2026-01-02T00:00:00Z",
            "ended_at": None if results is None else stamp, "archived_at": None, "cancel_initiated_at": None,
            "results_url": None if results is None else f"{base}/v1/messages/batches/{batch_id}/results"}


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}
