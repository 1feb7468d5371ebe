"""Keep the README's transcripts true: the quickstart review of examples/, a chat turn and an
implement run, each produced by running fba (the model ones against the loopback fake API with a
scripted answer, in a temporary git repository).

    python scripts/gen_transcripts.py            # print the transcripts
    python scripts/gen_transcripts.py --write    # replace them in README.md
    python scripts/gen_transcripts.py --check    # exit 1 when README.md is out of date

What varies from run to run (test durations, commit ids) is written as fixed values.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakeapi import FakeAnthropic, text_reply, tool_reply  # noqa: E402

README = ROOT / "README.md"
WIDTH = "100"

CHAT_QUESTION = "Why is GET /admin/stats flagged, and how do I fix it?"
CHAT_ANSWER = """`GET /admin/stats` is registered on a router without any auth dependency, so anyone can \
read the totals.

Add the admin check as a route dependency:

```python
@router.get("/admin/stats", response_model=Stats, dependencies=[Depends(get_current_active_superuser)])
```

`get_current_active_superuser` is already in `app/deps.py`."""

SPEC = """# Slugs

Add `slugify(title: str) -> str` to `app/text.py`: lower-case, words joined by `-`, anything
that is not a letter or a digit dropped. Test it in `tests/test_text.py`.
"""
TEXT_MODULE = '''import re


def slugify(title: str) -> str:
    """`Hello, World!` -> `hello-world`."""
    return "-".join(re.findall(r"[a-z0-9]+", title.lower()))
'''
TEXT_TEST = '''from app.text import slugify


def test_slugify():
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("  Tags & Tasks 2 ") == "tags-tasks-2"
'''


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "FBA_HOME": str(home / "fba"), "NO_COLOR": "1",
            "COLUMNS": WIDTH, "PYTHONUNBUFFERED": "1", **(extra or {})}


def _fba(args: list[str], cwd: Path, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", "agent", *args], cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)},
                          input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    return done.stdout


def _repo(folder: Path, files: dict[str, str]) -> Path:
    shutil.copytree(ROOT / "examples" / "app", folder / "app")
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    for command in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.name", "fba docs"],
                    ["git", "config", "user.email", "docs@example.invalid"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "example app"]):
        subprocess.run(command, cwd=folder, check=True, capture_output=True)
    return folder


def quickstart(home: Path) -> str:
    return _fba(["review", "examples/", "--preview", "--no-cache"], ROOT, _env(home)).rstrip("\n")


def chat(home: Path) -> str:
    repo = _repo(home / "chat", {})
    with FakeAnthropic() as api:
        api.script(tool_reply(("read_file", {"path": "app/routes/admin.py"})), text_reply(CHAT_ANSWER))
        output = _fba(["chat"], repo, _env(home, api.env()), stdin=CHAT_QUESTION + "\n")
    return f"$ echo {shlex.quote(CHAT_QUESTION)} | fba chat\n{output}".rstrip("\n")


def implement(home: Path) -> str:
    command = f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider"
    pyproject = f"[tool.fba]\ntest-command = {json.dumps(command)}\n\n[tool.pytest.ini_options]\npythonpath = [\".\"]\n"
    repo = _repo(home / "implement", {"SPEC.md": SPEC, "pyproject.toml": pyproject, "tests/__init__.py": ""})
    with FakeAnthropic() as api:
        api.script(tool_reply(("create_file", {"path": "app/text.py", "content": TEXT_MODULE}),
                              ("create_file", {"path": "tests/test_text.py", "content": TEXT_TEST})),
                   tool_reply(("run_tests", {})),
                   text_reply("Added `slugify` in app/text.py with a test."))
        output = _fba(["implement", "SPEC.md", "--yes"], repo, _env(home, api.env()))
    output = output.replace(command, "pytest -q")
    return f"$ fba implement SPEC.md --yes\n{output}".rstrip("\n")


def _steady(text: str) -> str:
    """Durations and commit ids as fixed values (they change on every run)."""
    text = re.sub(r"\bin \d+\.\d s\b", "in 0.1 s", text)
    return re.sub(r"committed [0-9a-f]{8}", "committed 1a2b3c4d", text)


TRANSCRIPTS = {"quickstart-output": quickstart, "chat-transcript": chat, "implement-transcript": implement}


def rendered() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        return {name: _steady(make(Path(folder))) for name, make in TRANSCRIPTS.items()}


def with_transcripts(readme: str, transcripts: dict[str, str]) -> str:
    """Each transcript replaces the fenced block between its markers (four backticks: a transcript
    may hold a ``` block of its own)."""
    for name, text in transcripts.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, found_start, rest = readme.partition(start)
        body, found_end, tail = rest.partition(end)
        opening = re.search(r"^(`{3,})text\n", body, re.MULTILINE)
        if not found_start or not found_end or opening is None:
            raise SystemExit(f"README.md has no {start} ```text ... ``` {end} block")
        closing = body.rfind("\n" + opening.group(1))
        if closing < opening.end() - 1:
            raise SystemExit(f"README.md: the {name} block is not closed")
        after = body[closing + 1 + len(opening.group(1)):]
        readme = f"{head}{start}{body[:opening.start()]}````text\n{text}\n````{after}{end}{tail}"
    return readme


def main(argv: list[str]) -> int:
    transcripts = rendered()
    if not argv:
        print("\n\n".join(transcripts.values()))
        return 0
    current = README.read_text(encoding="utf-8")
    updated = with_transcripts(current, transcripts)
    if argv == ["--check"]:
        if updated != current:
            import difflib

            sys.stderr.writelines(difflib.unified_diff(current.splitlines(True), updated.splitlines(True), "README.md", "now"))
            print("README.md transcripts are out of date: run python scripts/gen_transcripts.py --write", file=sys.stderr)
            return 1
        return 0
    if argv == ["--write"]:
        README.write_text(updated, encoding="utf-8")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
