"""The sandbox for the agent's code (agent/edits/sandbox.py) and how test runs use it: the probe,
the allow-listed environment, what a confined run sees, when fba refuses to run unconfined, the
tests' copy without secrets, and Ctrl-C killing the whole test run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from agent.context.files import RepoFiles
from agent.edits import sandbox
from agent.edits.testrun import IF_AVAILABLE, OFF, REQUIRED, run_tests
from agent.errors import InputError, SandboxError
from agent.types import ChangeSet
from agent.workflows.verify import VerifyOptions, verify
from agent.workflows.workspace import Workspace
from tests.sandbox_marks import needs_sandbox

PYTHON = sys.executable
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bubblewrap is Linux only")


@pytest.fixture
def no_sandbox(monkeypatch: pytest.MonkeyPatch):
    """This process without a sandbox: bwrap "not installed" (the probe is re-run, then forgotten)."""
    monkeypatch.setenv("FBA_BWRAP", "/nonexistent/bwrap")
    sandbox.probe.cache_clear()
    yield
    sandbox.probe.cache_clear()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "app.py").write_text("x = 1\n")
    return root


def script_run(root: Path, source: str, confinement: str = REQUIRED):
    (root / "probe_script.py").write_text(textwrap.dedent(source))
    return run_tests(ChangeSet(()), root, f"{PYTHON} probe_script.py", timeout=120, confinement=confinement)


def test_the_environment_is_an_allow_list():
    environ = {"ANTHROPIC_API_KEY": "sk-ant-x", "ANTHROPIC_BASE_URL": "http://127.0.0.1:1", "GITHUB_TOKEN": "t",
               "AWS_SECRET_ACCESS_KEY": "a", "DATABASE_URL": "postgres://u:p@h/db", "MY_API_KEY": "k",
               "SSH_AUTH_SOCK": "/run/agent", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC", "PATH": "/usr/bin",
               "HOME": "/root"}
    assert sandbox.scrubbed_env(environ, {"HOME": "/tmp/home"}) == {
        "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC", "PATH": "/usr/bin", "HOME": "/tmp/home",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}


def test_only_python_installations_and_pythonpath_are_shown(tmp_path):
    home = tmp_path / "home" / "me"
    project = home / "project"
    base = tmp_path / "python"
    (base / "lib" / "python3.11").mkdir(parents=True)
    (base / "lib" / "python3.11" / "os.py").write_text("")
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\n")
    local = home / ".local"  # a prefix with a bin/ but no Python installation: ~/.local/share stays hidden
    (local / "bin").mkdir(parents=True)
    (local / "bin" / "pytest").write_text("#!/bin/sh\n")
    (local / "bin" / "pytest").chmod(0o755)
    standin = tmp_path / "standin"
    standin.mkdir()
    environ = {"PATH": f"{local / 'bin'}:/usr/bin", "PYTHONPATH": os.pathsep.join(map(str, (standin, home, home.parent)))}
    shown = sandbox.interpreter_dirs(["pytest"], environ, [project, home])
    assert {str(venv), str(base), str(standin)} <= set(shown)
    assert not {str(local), str(home), str(home.parent), str(project)} & set(shown)


@linux_only
def test_the_probe_says_why_no_sandbox_works(monkeypatch, no_sandbox):
    missing = sandbox.probe()
    assert not missing.works and "not installed" in missing.problem and "apt-get install bubblewrap" in missing.problem
    assert "--unsandboxed" in missing.refusal()
    monkeypatch.setenv("FBA_BWRAP", "/bin/false")  # installed, but cannot run anything (as without user namespaces)
    sandbox.probe.cache_clear()
    broken = sandbox.probe()
    assert not broken.works and "installed but does not work here" in broken.problem


@needs_sandbox
def test_a_confined_run_sees_only_its_copy(project, tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_text("outside the project\n")
    monkeypatch.setenv("PLANTED_TOKEN", "planted-value")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    run = script_run(project, f"""
        import os, socket
        print("cwd", os.getcwd())
        print("pids", len([p for p in os.listdir("/proc") if p.isdigit()]))
        print("home", os.environ["HOME"], os.listdir(os.environ["HOME"]))
        print("planted", "PLANTED_TOKEN" in os.environ)
        for path in ({str(tmp_path / "secret.txt")!r}, {str(Path.home())!r} + "/.bashrc"):
            print("read", os.path.exists(path))
        with open("app.py", "a") as handle:
            handle.write("y = 2\\n")
        for path in ({str(tmp_path / "escaped.txt")!r}, "/usr/escaped.txt", "/escaped.txt"):  # 1st: a private /tmp
            try:
                open(path, "w").write("x")
                print("wrote", path)
            except OSError as exc:
                print("refused", exc.__class__.__name__)
        try:
            socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=5)
            print("connected")
        except OSError as exc:
            print("network", exc.__class__.__name__)
    """)
    listener.close()
    assert run.passed, run.output
    lines = run.output.splitlines()
    assert lines[0] == f"cwd {project}"  # the copy, at the project's own path
    assert int(lines[1].split()[1]) <= 3  # its own processes only
    assert lines[2] == "home /tmp/home []" and lines[3] == "planted False"
    assert lines[4:6] == ["read False", "read False"]
    assert lines[7:9] == ["refused OSError", "refused OSError"]  # /usr and / are read-only
    assert lines[9] == "network ConnectionRefusedError"
    assert (project / "app.py").read_text() == "x = 1\n"  # the real file is untouched
    assert not (tmp_path / "escaped.txt").exists()


def test_without_a_sandbox_the_model_code_is_refused(project, no_sandbox):
    with pytest.raises(SandboxError, match="only in a sandbox.*bubblewrap.*--unsandboxed"):
        script_run(project, "print('ran')")
    assert script_run(project, "print('ran')", IF_AVAILABLE).output == "ran"  # the user's own code


@needs_sandbox
def test_unsandboxed_runs_outside_the_sandbox_but_still_scrubbed(project, monkeypatch):
    monkeypatch.setenv("PLANTED_TOKEN", "planted-value")
    source = "import os\nprint(os.getcwd())\nprint('PLANTED_TOKEN' in os.environ)\n"
    confined, unconfined = script_run(project, source), script_run(project, source, OFF)
    assert confined.output.splitlines()[0] == str(project)
    assert unconfined.output.splitlines()[0] != str(project)  # the temporary copy's own path
    assert confined.output.splitlines()[1] == unconfined.output.splitlines()[1] == "False"


def workspace(root: Path, unsandboxed: bool = False) -> Workspace:
    return Workspace(root, RepoFiles(root), test_command=f"{PYTHON} probe_script.py", test_timeout=120,
                     unsandboxed=unsandboxed)


def test_the_tests_copy_has_no_deny_listed_files(project):
    (project / ".env").write_text("SECRET_KEY=never-copied\n")
    (project / "deploy").mkdir()
    (project / "deploy" / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (project / "probe_script.py").write_text("import os\nprint(sorted(os.listdir('.')), os.path.exists('deploy/server.pem'))\n")
    run = workspace(project, unsandboxed=True).test()
    assert run.output == "['app.py', 'probe_script.py'] False"


def test_only_the_users_own_run_on_unchanged_code_goes_unconfined(project, no_sandbox):
    (project / "probe_script.py").write_text("print('ran')\n")
    space = workspace(project)
    assert space.test(by_user=True).output == "ran"  # /run-tests in chat, nothing pending
    with pytest.raises(SandboxError):
        space.run_tests()  # the model's run_tests: its arguments, so confined even on unchanged code
    space.create_file("tests/test_new.py", "def test_new():\n    pass\n")
    with pytest.raises(SandboxError):
        space.test(by_user=True)  # the model's code is pending


def test_bad_test_arguments_are_a_tool_error(project):
    with pytest.raises(InputError, match="cannot split the test arguments"):
        workspace(project, unsandboxed=True).run_tests("'unbalanced")


def test_verify_runs_the_configured_test_command_not_the_changed_one(project):
    (project / "pyproject.toml").write_text(f'[tool.fba]\ntest-command = "{PYTHON} probe_script.py"\n')
    (project / "probe_script.py").write_text("print('the configured command')\n")
    space = workspace(project, unsandboxed=True)
    space.edit_file("pyproject.toml", "probe_script.py", "-c 'raise SystemExit(3)'")
    verification = verify(space.snapshot(), project, VerifyOptions(test_command=f"{PYTHON} probe_script.py",
                                                                   unsandboxed=True))
    tests = next(c for c in verification.checks if c.name == "tests")
    assert tests.status == "passed" and "the configured command" in tests.detail


CTRL_C_RUN = """
import sys
from pathlib import Path
from agent.edits.testrun import run_tests
from agent.types import ChangeSet
run_tests(ChangeSet(()), Path(sys.argv[1]), sys.argv[2], timeout=600, confinement=sys.argv[3])
"""
SLOW_TEST = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {marker!r}])
time.sleep(600)
"""


def processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def wait_for(condition, seconds: float = 120) -> bool:
    """Poll until `condition()` holds (not a timing assertion: a bound so a broken test ends)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@linux_only
@pytest.mark.parametrize("confinement", [OFF, pytest.param(REQUIRED, marks=needs_sandbox)])
def test_ctrl_c_kills_the_whole_test_run(project, confinement):
    marker = f"fba-ctrl-c-{uuid.uuid4().hex}"
    (project / "slow.py").write_text(SLOW_TEST.format(marker=marker))
    fba = subprocess.Popen([PYTHON, "-c", CTRL_C_RUN, str(project), f"{PYTHON} slow.py", confinement],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: processes_with(marker)), "the test run never started"
        fba.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends fba
        _, stderr = fba.communicate(timeout=120)
        assert b"KeyboardInterrupt" in stderr
        assert wait_for(lambda: not processes_with(marker), seconds=30), "the test run outlived fba"
    finally:
        fba.kill()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
