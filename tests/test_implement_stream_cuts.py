"""`fba implement` when the API stream breaks mid-answer: the real SDK (whatever exception type it uses
for a cut stream) against the loopback fake that drops the connection inside a `tool_use` block."""

from __future__ import annotations

from pathlib import Path

from tests.fakeapi import cut_stream, sse_events
from tests.test_implement import TAGS_ROUTER, env, git, implement_steps, project, standin  # noqa: F401


def cut_inside_first_tool_use(step) -> int:
    """The event count after which the stream is cut: two events into the first tool_use block."""
    events = sse_events(step, "claude-fake", "msg_fake")
    start = next(i for i, (name, data) in enumerate(events)
                 if name == "content_block_start" and data["content_block"]["type"] == "tool_use")
    return start + 2


def test_a_stream_cut_inside_a_tool_use_is_resent_and_the_run_finishes(fake_api, env, project, run_fba):
    steps = implement_steps()
    writing = steps[1]
    fake_api.script(steps[0], cut_stream(cut_inside_first_tool_use(writing), writing), *steps[1:])
    done = run_fba(["implement", "SPEC.md", "--yes"], project, env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert (project / "app/tags.py").read_text() == TAGS_ROUTER
    assert "app/tags.py" in git(project, "show", "--name-only", "--format=", "HEAD")  # the change was committed
    assert fake_api.requests[1].body == fake_api.requests[2].body  # the cut request was resent whole
    assert fake_api.remaining == 0


def test_a_stream_that_keeps_breaking_ends_in_one_line_with_the_real_attempt_count(fake_api, env, project, run_fba):
    steps = implement_steps()
    cut = cut_stream(cut_inside_first_tool_use(steps[1]), steps[1])
    fake_api.script(steps[0], cut, cut, cut)
    before = {p: p.read_bytes() for p in Path(project).rglob("*") if p.is_file() and ".git" not in p.parts}
    done = run_fba(["implement", "SPEC.md", "--yes"], project, env, timeout=180)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("error: the API stream broke on each of 3 attempts (connection cut mid-answer: "
                    "RemoteProtocolError); try again later")
    assert len(fake_api.requests) == 4  # one good request, then the three attempts the message counts
    assert "Traceback" not in done.stderr
    after = {p: p.read_bytes() for p in Path(project).rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before  # nothing written
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
