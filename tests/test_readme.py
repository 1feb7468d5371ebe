"""The README stays true: quickstart = CI command, generated rule table current, config keys documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from agent.config import KEYS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```console\n(.+?)\n```", section)


def test_quickstart_has_two_commands_and_the_second_is_what_ci_runs():
    review, tests = _quickstart_commands()
    assert review == "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/fba review examples/ --preview"
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci_lines
    assert tests == "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"


def test_rule_table_is_current():
    proc = subprocess.run([sys.executable, "scripts/gen_rule_table.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_config_key_is_documented():
    for key in KEYS:
        env = "FBA_" + key.name.upper().replace("-", "_")
        assert re.search(rf"^\| `{re.escape(key.name)}` \| .+ \| `{env}` \|", README, re.MULTILINE), key.name


def test_quickstart_output_is_what_fba_prints(tmp_path):
    section = README.split("<!-- quickstart-output:start -->", 1)[1].split("<!-- quickstart-output:end -->", 1)[0]
    documented = re.search(r"```text\n(.*?)\n```", section, re.DOTALL).group(1)
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "agent", "review", "examples/", "--preview", "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.rstrip("\n") == documented
