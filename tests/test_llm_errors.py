"""The one line each SDK error left after the SDK's retries becomes (`describe_api_error`)."""

from __future__ import annotations

import anthropic
import httpx2
import pytest

from agent.llm.client import ModelClient, describe_api_error

REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/messages")
CLIENT = ModelClient(api_key="test-key", base_url="http://127.0.0.1:9", max_retries=2, timeout=30.0)


def status_error(kind: type, status: int, message: str = "") -> anthropic.APIStatusError:
    body = {"type": "error", "error": {"type": "x_error", "message": message}} if message else None
    return kind(f"Error code: {status}", response=httpx2.Response(status, request=REQUEST), body=body)


def connection_error() -> anthropic.APIConnectionError:
    try:
        raise anthropic.APIConnectionError(request=REQUEST) from OSError("refused")
    except anthropic.APIConnectionError as exc:
        return exc


@pytest.mark.parametrize("error, retries, line", [
    (status_error(anthropic.AuthenticationError, 401), 0,
     "the API key was rejected (401): check ANTHROPIC_API_KEY"),
    (status_error(anthropic.PermissionDeniedError, 403, "not for this org\nmore"), 0,
     "the API key may not use this (403): not for this org"),
    (status_error(anthropic.NotFoundError, 404), 0,
     "model 'claude-x' was not found (404): check --model or the `models` config"),
    (status_error(anthropic.RateLimitError, 429), 1, "rate limited by the API (429) after 1 retry; try again later"),
    (status_error(anthropic.InternalServerError, 529, "Overloaded"), 2,
     "the API is unavailable (529: Overloaded) after 2 retries; try again later"),
    (status_error(anthropic.BadRequestError, 400, "max_tokens too big"), 0,
     "the API refused the request (400): max_tokens too big"),
    (anthropic.APITimeoutError(REQUEST), None, "the API did not answer within 30s after up to 2 retries"),
    (connection_error(), 0, "cannot reach the API at http://127.0.0.1:9 with no retry: refused"),
    (anthropic.APIResponseValidationError(httpx2.Response(200, request=REQUEST), None, message="bad shape"), 0,
     "the API call failed: bad shape"),
])
def test_each_sdk_error_is_one_line(error: Exception, retries: int | None, line: str) -> None:
    assert describe_api_error(error, "claude-x", CLIENT, retries) == line
