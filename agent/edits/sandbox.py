"""Confinement for code the model wrote or changed (its tests, verify's test run, chat's run_tests).

    sandbox = probe()                      # once per process: does a sandbox actually work here?
    launch = confined(sandbox, argv, copy, mount_at=root)   # or unconfined(argv, copy, home)
    subprocess.Popen(launch.argv, cwd=launch.cwd, env=launch.env, ...)

Linux: bubblewrap (`bwrap`) with new user, pid, network, ipc, uts and cgroup namespaces, every
capability dropped, its own session, and dying with fba. The file system it sees: the isolated copy
of the project (writable) mounted at the project's own path, the interpreters (fba's, the active
virtualenv's, the project's `.venv`, the test program's) and the directories on PYTHONPATH
read-only, `/usr` and the few `/etc` files programs need read-only, a private `/tmp`, a fresh
`/proc` and a minimal `/dev`. Not the real project, not `$HOME`, not other processes, no network.
macOS: `sandbox-exec` with the profile below (reads limited to the system, the interpreters and
the copy; writes to the copy and a temporary home; no network).

Every run, confined or not, gets an allow-listed environment: PATH, locale and time zone, a
temporary HOME; never ANTHROPIC_* keys, tokens or anything else of the user's.

As root (a container), bwrap makes no user namespace unless asked and the command would keep
root's capabilities: fba always passes `--unshare-user --cap-drop ALL`.

A sandbox "works" only when a trivial command ran in it: bwrap may be installed where user
namespaces are disabled (some containers). `FBA_BWRAP` names the bwrap program (default: `bwrap`
on PATH); setting it to a missing program is how to see fba's behaviour without a sandbox.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from agent.errors import SandboxError

BWRAP, SANDBOX_EXEC, NONE = "bwrap", "sandbox-exec", "none"
PROBE_TIMEOUT = 20.0
SANDBOX_HOME = "/tmp/home"
# What the sandbox's environment may carry over from fba's (values of these names only).
ALLOWED_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "NO_COLOR", "PYTHONPATH", "VIRTUAL_ENV")
ALLOWED_ENV_PREFIXES = ("LC_",)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Enough of /etc for the dynamic loader, users, time zones and Debian's alternatives links.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/mime.types")
INSTALL_HINT = {
    "linux": "install bubblewrap (apt-get install bubblewrap, dnf install bubblewrap, apk add bubblewrap)",
    "darwin": "sandbox-exec ships with macOS; check that /usr/bin/sandbox-exec runs",
}

# macOS: deny everything, then allow what a Python test run needs. Parameters: COPY (writable
# project copy), HOME (writable temporary home) and READ0..READn (read-only interpreter folders).
MACOS_PROFILE = """(version 1)
(deny default)
(allow process-fork process-exec)
(allow signal (target same-sandbox))
(allow process-info* (target same-sandbox))
(allow sysctl-read)
(allow mach-lookup)
(allow ipc-posix-shm)
(allow file-read-metadata)
(allow file-read* (literal "/") (subpath "/usr") (subpath "/bin") (subpath "/sbin") (subpath "/System")
    (subpath "/Library/Frameworks") (subpath "/Library/Developer/CommandLineTools") (subpath "/private/etc")
    (subpath "/private/var/db/dyld") (subpath "/dev") (subpath "/opt/homebrew") (subpath "/usr/local")
    (subpath (param "COPY")) (subpath (param "HOME")) {reads})
(allow file-write* (subpath (param "COPY")) (subpath (param "HOME")) (literal "/dev/null") (literal "/dev/tty"))
(deny network*)
"""


@dataclass(frozen=True)
class Sandbox:
    """The confinement that works on this machine: `kind` bwrap, sandbox-exec or none (`problem`
    then says why, and how to get one)."""

    kind: str
    program: str = ""
    problem: str = ""

    @property
    def works(self) -> bool:
        return self.kind != NONE

    def refusal(self) -> str:
        """The one line fba says when it will not run the model's code unconfined."""
        return (f"fba runs the agent's code (its tests) only in a sandbox, and none works here: {self.problem}. "
                "Pass --unsandboxed to run it anyway, with your permissions")


@dataclass(frozen=True)
class Launch:
    """A command ready for Popen: argv (wrapped in the sandbox or not), working folder, environment."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


@functools.cache
def probe() -> Sandbox:
    """The sandbox of this machine, found by running `python -c pass` in it (cached per process)."""
    found = _candidate()
    if not found.works:
        return found
    with tempfile.TemporaryDirectory(prefix="fba-probe-") as folder:
        launch = confined(found, [sys.executable, "-c", "pass"], Path(folder), Path(folder), Path(folder))
        try:
            done = subprocess.run(launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=PROBE_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Sandbox(NONE, found.program, f"{found.kind} does not start ({exc})")
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return Sandbox(NONE, found.program, f"{found.kind} is installed but does not work here "
                                            f"({why[-1] if why else f'exit code {done.returncode}'}; are user "
                                            "namespaces disabled?)")
    return found


def _candidate() -> Sandbox:
    if sys.platform == "darwin":
        program = shutil.which("sandbox-exec") or ""
        return Sandbox(SANDBOX_EXEC, program) if program else Sandbox(NONE, "", "sandbox-exec is not available; "
                                                                               + INSTALL_HINT["darwin"])
    if not sys.platform.startswith("linux"):
        return Sandbox(NONE, "", f"fba has no sandbox for {sys.platform} (Linux: bubblewrap, macOS: sandbox-exec)")
    wanted = os.environ.get("FBA_BWRAP", "bwrap")
    program = shutil.which(wanted) or ""
    if not program:
        return Sandbox(NONE, "", f"bubblewrap ({wanted}) is not installed; {INSTALL_HINT['linux']}")
    return Sandbox(BWRAP, program)


def require_sandbox() -> Sandbox:
    """The working sandbox, or SandboxError saying why there is none."""
    sandbox = probe()
    if not sandbox.works:
        raise SandboxError(sandbox.refusal())
    return sandbox


# -- building the command ---------------------------------------------------------------------------


def confined(sandbox: Sandbox, argv: Sequence[str], copy: Path, mount_at: Path, home: Path,
             environ: Mapping[str, str] | None = None) -> Launch:
    """`argv` to run in `sandbox` on the project copy `copy`, which the command sees at `mount_at`
    (bwrap; sandbox-exec cannot move it, so there it stays where it is). `home` is an empty
    folder for a temporary HOME (bwrap makes its own inside the private /tmp)."""
    environ = os.environ if environ is None else environ
    readable = interpreter_dirs(argv, environ, [mount_at, Path.home()])
    if sandbox.kind == BWRAP:
        path = _visible_path(environ.get("PATH", ""), [*readable, *SYSTEM_DIRS])
        env = scrubbed_env(environ, {"HOME": SANDBOX_HOME, "TMPDIR": "/tmp", "PATH": path})
        return Launch([*_bwrap_args(sandbox.program, copy, mount_at, readable), "--", *argv], copy, env)
    params = [f"-DCOPY={copy.resolve()}", f"-DHOME={home.resolve()}",
              *(f"-DREAD{n}={p}" for n, p in enumerate(readable))]
    reads = " ".join(f'(subpath (param "READ{n}"))' for n in range(len(readable)))
    env = scrubbed_env(environ, {"HOME": str(home), "TMPDIR": str(home)})
    return Launch([sandbox.program, *params, "-p", MACOS_PROFILE.format(reads=reads), *argv], copy, env)


def unconfined(argv: Sequence[str], copy: Path, home: Path, environ: Mapping[str, str] | None = None) -> Launch:
    """`argv` run directly in `copy` (the user allowed it), still with an allow-listed environment."""
    environ = os.environ if environ is None else environ
    return Launch(list(argv), copy, scrubbed_env(environ, {"HOME": str(home)}))


def _bwrap_args(program: str, copy: Path, mount_at: Path, readable: Sequence[str]) -> list[str]:
    args = [program, "--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--die-with-parent",
            "--new-session", "--hostname", "fba-sandbox", "--proc", "/proc", "--dev", "/dev"]
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for item in ETC_FILES:
        args += ["--ro-bind-try", item, item]
    mounts = [("/tmp", ["--tmpfs", "/tmp"]), (str(mount_at), ["--bind", str(copy), str(mount_at)]),
              *((folder, ["--ro-bind", folder, folder]) for folder in readable)]
    # Shallow mounts first: the copy may sit under /tmp, a virtualenv inside the copy's path.
    for _, mount in sorted(mounts, key=lambda m: len(Path(m[0]).parts)):
        args += mount
    # The root itself (bwrap's tmpfs, where mount points were made) is read-only too.
    return [*args, "--dir", SANDBOX_HOME, "--remount-ro", "/", "--chdir", str(mount_at)]


def scrubbed_env(environ: Mapping[str, str], fixed: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed environment plus `fixed` (HOME, PATH...): never keys, tokens or anything
    else fba was started with."""
    kept = {k: v for k, v in environ.items() if k in ALLOWED_ENV or k.startswith(ALLOWED_ENV_PREFIXES)}
    return {**kept, "PATH": environ.get("PATH") or "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1", **fixed}


def _visible_path(path: str, visible: Sequence[str]) -> str:
    """PATH entries the sandbox can see."""
    kept = [entry for entry in path.split(os.pathsep) if entry and any(_under(entry, v) for v in visible)]
    return os.pathsep.join(dict.fromkeys(kept)) or "/usr/bin:/bin"


# -- what the command may read ------------------------------------------------------------------------


def interpreter_dirs(argv: Sequence[str], environ: Mapping[str, str], private: Sequence[Path]) -> list[str]:
    """Folders to show read-only: Python installations (fba's own, the active virtualenv, the
    project's `.venv`/`venv`, the one `argv[0]` belongs to, each with its base interpreter) and the
    folders on PYTHONPATH. Never one that is, or contains, a folder in `private` (the project,
    $HOME), nor one inside the project (the copy is there)."""
    project = Path(private[0]) if private else None
    candidates = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix)]
    if environ.get("VIRTUAL_ENV"):
        candidates.append(Path(environ["VIRTUAL_ENV"]))
    if project is not None:
        candidates += [project / ".venv", project / "venv"]
    candidates += _program_prefixes(argv[0] if argv else "", environ.get("PATH", ""))
    found: list[Path] = []
    for candidate in candidates:
        found += [p for p in (candidate, _base_of(candidate)) if p is not None and _is_python_prefix(p)]
    found += [Path(p) for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.isdir(p)]
    allowed: list[str] = []
    for folder in found:
        real = str(folder.resolve())
        if any(_under(str(Path(p).resolve()), real) for p in private):
            continue  # would show the real project or $HOME
        if project is not None and _under(real, str(project.resolve())) and not _is_python_prefix(folder):
            continue  # a PYTHONPATH folder inside the project: the copy has it
        for shown in dict.fromkeys([str(folder.absolute()), real]):
            inside_project = project is not None and _under(shown, str(project))
            if inside_project or not any(_under(shown, system) for system in SYSTEM_DIRS):
                allowed.append(shown)  # /usr/... is shown anyway, unless the copy (/usr/src/app) hides it
    return list(dict.fromkeys(allowed))


def _program_prefixes(program: str, path: str) -> list[Path]:
    """The installation prefixes of the program (`.../bin/pytest` -> `...`), as found and resolved."""
    if not program:
        return []
    found = program if os.sep in program else shutil.which(program, path=path or None)
    if not found:
        return []
    return [Path(p).parent.parent for p in dict.fromkeys([os.path.abspath(found), os.path.realpath(found)])]


def _base_of(prefix: Path) -> Path | None:
    """A virtualenv's base interpreter installation (pyvenv.cfg's `home` is its bin folder)."""
    try:
        lines = (prefix / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return Path(value.strip()).parent
    return None


def _is_python_prefix(folder: Path) -> bool:
    """A virtualenv or a Python installation (a stdlib inside), not just any folder with a bin/."""
    if (folder / "pyvenv.cfg").is_file():
        return True
    lib = folder / "lib"
    try:
        return any((child / "os.py").is_file() for child in lib.iterdir() if child.name.startswith("python"))
    except OSError:
        return False


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
