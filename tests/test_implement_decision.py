"""implement's decision point (issue 18): the verification verdict is repeated right above the
question; declining keeps the paid-for change under fba's home, `fba log` lists it and records the
run as declined, and `fba apply RUN_ID` lands it later through the usual flow."""

from __future__ import annotations

import json
import sys

import pexpect

from tests.fakeapi import text_reply
from test_implement import TAGS_ROUTER, env, git, implement_steps, project, standin  # noqa: F401 (fixtures)


def _spawn(args, project, env, fba_home, pager="cat"):
    return pexpect.spawn(sys.executable, ["-m", "agent", *args], cwd=str(project),
                         env={"PATH": "/usr/bin:/bin", "FBA_HOME": str(fba_home), "NO_COLOR": "1", "COLUMNS": "120",
                              "PAGER": pager, **env}, encoding="utf-8", timeout=120, dimensions=(24, 120))


def test_declining_keeps_the_change_and_fba_apply_lands_it_later(fake_api, env, project, fba_home, run_fba, tmp_path):
    fake_api.script(*implement_steps())
    paged = tmp_path / "paged.txt"
    child = _spawn(["implement", "SPEC.md"], project, env, fba_home, pager=f"tee {paged}")
    child.expect(r"3 files changed, \+33 -1")
    assert "+++ b/app/tags.py" in paged.read_text()  # the diff is taller than the screen: paged as git does
    child.expect(r"verified after 1 round: ✓ parse  ✓ checks  ✓ schema  ✓ tests \(4 passed")  # next to the prompt
    child.expect(r"Apply these changes to 3 file\(s\)\?")
    child.sendline("n")
    child.expect("not applied")
    child.expect(r"kept the change in \S+/changes/(\w+)\.patch; apply it later with: ")
    run_id = child.match.group(1)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert not (project / "app/tags.py").exists()

    run = json.loads(run_fba(["log", "--json"], project).stdout)[0]
    assert (run["id"], run["status"]) == (run_id, "declined")
    assert run["patch"].endswith(f"changes/{run_id}.patch") and "+++ b/app/tags.py" in open(run["patch"]).read()
    listed = run_fba(["log"], project)
    assert f"apply it with: fba apply {run_id}" in listed.stderr

    applied = run_fba(["apply", run_id[:6], "--yes"], project, env)
    assert applied.returncode == 0, applied.stderr
    assert (project / "app/tags.py").read_text() == TAGS_ROUTER
    assert "fba: implement Tags" in git(project, "log", "-1", "--format=%s")
    run = json.loads(run_fba(["log", "--json"], project).stdout)[0]
    assert (run["status"], run["patch"]) == ("applied", None)
    again = run_fba(["apply", run_id], project, env)
    assert again.returncode == 2 and f"run {run_id} kept no change to apply (applied)" in again.stderr


def test_an_unverified_change_without_a_terminal_is_kept_too(fake_api, env, project, run_fba):
    broken = TAGS_ROUTER.replace("name=tag_in.name.lower()", "name=tag_in.name")
    fake_api.script(*implement_steps(router=broken)[:2], text_reply("Done."))
    done = run_fba(["implement", "SPEC.md", "--yes", "--max-rounds", "1"], project, env, timeout=180)
    assert done.returncode == 1
    run = json.loads(run_fba(["log", "--json"], project).stdout)[0]
    assert run["status"] == "not verified" and run["patch"]
    assert f"apply it later with: fba apply {run['id']}" in done.stderr


def test_fba_apply_of_an_unknown_run_is_one_line(project, run_fba):
    done = run_fba(["apply", "nope"], project)
    assert done.returncode == 2 and done.stderr.strip() == "error: no run with id 'nope' (see: fba log)"
