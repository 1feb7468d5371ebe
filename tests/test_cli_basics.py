"""The small commands (help, version, rules, config, init, agents) and what `--help` imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent import __version__
from agent.analysis.rules import all_rules
from agent.config import KEYS

HEAVY = ("anthropic", "git", "libcst")


def fba(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FBA_", "ANTHROPIC_"))}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [["--help"], ["review", "--help"], ["rules", "--help"]])
def test_help_does_not_import_heavy_modules(tmp_path, args):
    script = (
        "import sys\n"
        "from agent.cli import app\n"
        f"try:\n    app({args!r}, standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    modules = set(proc.stdout.rsplit("MODULES ", 1)[1].split())
    assert "typer" in modules  # the probe really ran the app
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == [], loaded
    assert "Usage" in proc.stdout


def test_help_lists_the_commands(tmp_path):
    proc = fba(tmp_path, "--help")
    assert proc.returncode == 0
    for command in ("review", "rules", "config", "init", "agents"):
        assert command in proc.stdout


def test_version(tmp_path):
    proc = fba(tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"fba {__version__}"


def test_rules_list_json_has_every_rule(tmp_path):
    proc = fba(tmp_path, "rules", "--format", "json")
    assert proc.returncode == 0
    listed = json.loads(proc.stdout)
    assert [r["code"] for r in listed] == [r.code for r in all_rules()]
    assert all(set(r) == {"code", "name", "category", "severity", "title", "preview", "fixable", "url"} for r in listed)


def test_rules_table(tmp_path):
    proc = fba(tmp_path, "rules", env={"COLUMNS": "200"})
    assert proc.returncode == 0
    for rule in all_rules():
        assert rule.code in proc.stdout


def test_rule_docs(tmp_path):
    proc = fba(tmp_path, "rules", "fba203", env={"COLUMNS": "200"})
    assert proc.returncode == 0
    assert "FBA203 create-without-201" in proc.stdout
    for section in ("What it does", "Why is this bad?", "Use instead", "Known problems"):
        assert section in proc.stdout


def test_unknown_rule(tmp_path):
    proc = fba(tmp_path, "rules", "NOPE")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: unknown rule 'NOPE' (see 'fba rules')"


def test_config_json_shows_values_and_sources(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.fba]\nfail-on = "high"\nexclude = ["migrations/*"]\n',
                                             encoding="utf-8")
    (tmp_path / "sub").mkdir()
    proc = fba(tmp_path / "sub", "config", "--format", "json", env={"FBA_SELECT": "FBA1,ownership"})
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert config["pyproject"] == str(tmp_path / "pyproject.toml")
    assert config["values"]["fail-on"] == "high"
    assert config["sources"]["fail-on"] == str(tmp_path / "pyproject.toml")
    assert config["values"]["select"] == ["FBA1", "ownership"]
    assert config["sources"]["select"] == "env FBA_SELECT"
    assert config["sources"]["model"] == "default"
    assert set(config["values"]) == {k.name for k in KEYS}


def test_config_table(tmp_path):
    proc = fba(tmp_path, "config", env={"COLUMNS": "200"})
    assert proc.returncode == 0
    for key in KEYS:
        assert key.name in proc.stdout


def test_config_error_is_one_line(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.fba]\nfail-on = 3 3\n", encoding="utf-8")
    proc = fba(tmp_path, "config")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "not valid TOML" in proc.stderr


def test_init_writes_a_parseable_section_once(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "demo"\n', encoding="utf-8")
    proc = fba(tmp_path, "init")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "wrote [tool.fba] to pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert text.startswith('[project]\nname = "demo"\n')
    assert tomllib.loads(text)["tool"]["fba"] == {}  # every key is commented out at its default
    for key in KEYS:
        assert f"# {key.name} = " in text
    again = fba(tmp_path, "init")
    assert again.returncode == 2
    assert "already has a [tool.fba] section" in again.stderr
    assert pyproject.read_text(encoding="utf-8") == text


def test_init_creates_pyproject(tmp_path):
    assert fba(tmp_path, "init").returncode == 0
    assert (tmp_path / "pyproject.toml").read_text(encoding="utf-8").startswith("[tool.fba]\n")


def test_agents_lists_bundled_and_repo_agents(tmp_path):
    agents = tmp_path / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "reviewer.md").write_text(
        "---\nname: reviewer\ndescription: Reviews things\nmodel: haiku\n---\nYou review.\n", encoding="utf-8")
    proc = fba(tmp_path, "agents", env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert "fastapi-backend" in proc.stdout
    assert "reviewer" in proc.stdout and "haiku" in proc.stdout


def test_unknown_command_is_a_usage_error(tmp_path):
    proc = fba(tmp_path, "reveiw")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "No such command" in proc.stderr
