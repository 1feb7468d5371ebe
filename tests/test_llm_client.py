"""The client against the loopback fake API, through the real SDK: streaming, retries, errors."""

from __future__ import annotations

import pytest

from agent.errors import ModelError
from agent.llm.client import ModelClient
from agent.llm.events import RequestDone, Retrying, StreamDiscarded, TextDelta, ToolStarted
from tests.fakeapi import cut_stream, error_event, status_fault, text_reply, tool_reply

FAST = {"retry-after-ms": "1"}  # keep the SDK's waits short; it honours the header
REQUEST = {"model": "claude-sonnet-5-5", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}


def client_for(api, max_retries: int = 3) -> ModelClient:
    return ModelClient(api_key="test-key", base_url=api.url, max_retries=max_retries, timeout=30)


def test_streams_text_and_tool_use_and_returns_the_final_message(fake_api):
    fake_api.script(tool_reply(("read_file", {"path": "app/main.py", "start_line": 3}), text="Reading the app.",
                               usage={"input_tokens": 1000, "output_tokens": 50, "cache_read_input_tokens": 400}))
    events = []
    reply = client_for(fake_api).send(REQUEST, events.append)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Reading the app."
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1  # really streamed in pieces
    assert ToolStarted("read_file", "toolu_fake_01_read_file") in events
    assert reply.stop_reason == "tool_use"
    assert reply.tool_uses == ({"type": "tool_use", "id": "toolu_fake_01_read_file", "name": "read_file",
                                "input": {"path": "app/main.py", "start_line": 3}},)
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.cache_read_input_tokens) == (1000, 50, 400)
    assert reply.usage.cost_usd == pytest.approx((1000 * 2 + 50 * 10 + 400 * 0.10) / 1e6)
    assert isinstance(events[-1], RequestDone)
    assert fake_api.requests[0].body["stream"] is True
    assert fake_api.requests[0].headers["authorization"] == "Bearer test-key"  # the SDK sends the key as a bearer token


@pytest.mark.parametrize("status", [429, 529, 500])
def test_transient_statuses_are_retried_then_succeed(fake_api, status):
    fake_api.script(status_fault(status, FAST), status_fault(status, FAST), text_reply("done"))
    events = []
    reply = client_for(fake_api).send(REQUEST, events.append)
    assert reply.text == "done"
    assert [r.headers.get("x-stainless-retry-count") for r in fake_api.requests] == ["0", "1", "2"]
    assert [e for e in events if isinstance(e, Retrying)] == [Retrying(1, f"HTTP {status}"), Retrying(2, f"HTTP {status}")]


def test_retry_after_seconds_header_is_accepted(fake_api):
    fake_api.script(status_fault(429, {"retry-after": "0.01"}), text_reply("ok"))
    events = []
    assert client_for(fake_api).send(REQUEST, events.append).text == "ok"
    assert len(fake_api.requests) == 2
    retry = next(e for e in events if isinstance(e, Retrying))
    assert retry.waited is not None and retry.waited >= 0  # how long the SDK waited is reported


def test_exhausted_retries_become_one_clear_model_error(fake_api):
    fake_api.script(*[status_fault(529, FAST)] * 3)
    with pytest.raises(ModelError) as caught:
        client_for(fake_api, max_retries=2).send(REQUEST, lambda e: None)
    assert str(caught.value) == "the API is unavailable (529: Overloaded) after 2 retries; try again later"
    assert len(fake_api.requests) == 3


def test_rate_limit_exhausted(fake_api):
    fake_api.script(*[status_fault(429, FAST)] * 2)
    with pytest.raises(ModelError, match=r"rate limited by the API \(429\) after 1 retry;"):
        client_for(fake_api, max_retries=1).send(REQUEST, lambda e: None)


def test_rejected_key_is_not_retried(fake_api):
    fake_api.script(status_fault(401), text_reply("never sent"))
    with pytest.raises(ModelError, match=r"API key was rejected \(401\)"):
        client_for(fake_api).send(REQUEST, lambda e: None)
    assert len(fake_api.requests) == 1


def test_cut_stream_is_discarded_and_resent_whole(fake_api):
    fake_api.script(cut_stream(after_events=4), text_reply("complete answer"))
    events = []
    reply = client_for(fake_api).send(REQUEST, events.append)
    assert reply.text == "complete answer"
    discarded = [e for e in events if isinstance(e, StreamDiscarded)]
    assert len(discarded) == 1 and "RemoteProtocolError" in discarded[0].reason
    assert events.index(discarded[0]) > next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert len(fake_api.requests) == 2 and fake_api.requests[0].body == fake_api.requests[1].body


def test_error_event_mid_stream_is_resent(fake_api):
    fake_api.script(error_event("overloaded_error"), text_reply("second try"))
    events = []
    assert client_for(fake_api).send(REQUEST, events.append).text == "second try"
    assert any(isinstance(e, StreamDiscarded) and "overloaded_error" in e.reason for e in events)


def test_a_non_transient_error_event_is_reported_not_resent(fake_api):
    fake_api.script(error_event("invalid_request_error"), text_reply("never"))
    with pytest.raises(ModelError, match="refused the request"):
        client_for(fake_api).send(REQUEST, lambda e: None)
    assert len(fake_api.requests) == 1


def test_streams_that_keep_breaking_end_in_a_model_error(fake_api):
    fake_api.script(cut_stream(), cut_stream(), cut_stream())
    with pytest.raises(ModelError) as caught:
        client_for(fake_api).send(REQUEST, lambda e: None)
    assert str(caught.value) == ("the API stream broke on each of 3 attempts (connection cut mid-answer: "
                                 "RemoteProtocolError); try again later")
    assert len(fake_api.requests) == 3  # what the message says is what happened


def test_a_connection_error_without_retries_says_so():
    client = ModelClient(api_key="k", base_url="http://127.0.0.1:9", max_retries=0, timeout=5)
    with pytest.raises(ModelError) as caught:
        client.send(REQUEST, lambda e: None)
    assert str(caught.value).startswith("cannot reach the API at http://127.0.0.1:9 with no retry:")


def test_the_retry_count_in_a_message_is_the_real_one(fake_api):
    fake_api.script(*[status_fault(529, FAST)] * 3)
    with pytest.raises(ModelError, match=r"\(529: Overloaded\) after 2 retries;"):
        client_for(fake_api, max_retries=2).send(REQUEST, lambda e: None)


def test_unreachable_server_is_a_connection_error(fake_api):
    client = ModelClient(api_key="k", base_url="http://127.0.0.1:9", max_retries=0, timeout=5)
    with pytest.raises(ModelError, match="cannot reach the API at http://127.0.0.1:9"):
        client.send(REQUEST, lambda e: None)


def test_missing_key_is_a_model_error_before_any_request():
    with pytest.raises(ModelError, match="ANTHROPIC_API_KEY is not set"):
        ModelClient.from_config({}, environ={})


def test_config_sets_retries_and_timeout_and_env_the_base_url():
    client = ModelClient.from_config({"max-retries": 7, "timeout": 12.5},
                                     environ={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:1"})
    assert (client.max_retries, client.timeout, client.base_url) == (7, 12.5, "http://127.0.0.1:1")
