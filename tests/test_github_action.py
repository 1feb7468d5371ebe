"""The composite GitHub Action (`action.yml`): its shell steps run as the runner would run them,
in a temporary pull-request checkout (a clone whose `origin` has the base branch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
STEPS = {step.get("name") or step.get("uses"): step for step in ACTION["runs"]["steps"]}

BASE_APP = """\
from fastapi import APIRouter

router = APIRouter()


@router.post("/old")
def create_old(name: str) -> dict:
    return {"name": name}
"""
PR_ADDITION = """

@router.post("/new")
def create_new(name: str) -> dict:
    return {"name": name}
"""
PYPROJECT = '[tool.fba]\nselect = ["FBA203"]\n'


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def pull_request(tmp_path: Path) -> Path:
    """A checkout of a pull-request branch that adds one route; its `origin` has `main`."""
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "config", "user.name", "fba tests")
    _git(origin, "config", "user.email", "tests@example.invalid")
    (origin / "backend" / "app").mkdir(parents=True)
    (origin / "backend" / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (origin / "backend" / "app" / "items.py").write_text(BASE_APP, encoding="utf-8")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "base")
    checkout = tmp_path / "checkout"
    _git(tmp_path, "clone", "-q", "--depth=1", "--branch", "main", origin.as_uri(), str(checkout))
    _git(checkout, "config", "user.name", "fba tests")
    _git(checkout, "config", "user.email", "tests@example.invalid")
    _git(checkout, "checkout", "-q", "-b", "feature")
    with open(checkout / "backend" / "app" / "items.py", "a", encoding="utf-8") as file:
        file.write(PR_ADDITION)
    _git(checkout, "commit", "-qam", "add a route")
    _git(checkout, "update-ref", "-d", "refs/remotes/origin/main")  # as a PR checkout: no base ref yet
    return checkout


def run_step(name: str, cwd: Path, inputs: dict[str, str], outputs: Path) -> subprocess.CompletedProcess:
    """Run one `shell: bash` step's script with its `env:` filled in from `inputs` (the values
    its `${{ ... }}` expressions would take) and GitHub's `GITHUB_OUTPUT` file."""
    step = STEPS[name]
    assert step["shell"] == "bash"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FBA_", "ANTHROPIC_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["GITHUB_OUTPUT"] = str(outputs)
    for key in step.get("env", {}):
        assert key in inputs, f"the test does not set {key} of step {name!r}"
        env[key] = inputs[key]
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", step["run"]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()) if path.exists() else {}


def review_inputs(**overrides: str) -> dict[str, str]:
    inputs = {"FBA_PATHS": ".", "FBA_FAIL_ON_INPUT": "low", "FBA_EXTRA_ARGS": "", "FBA_BASE": "main",
              "FBA_SARIF": "fba.sarif"}
    inputs.update(overrides)
    return inputs


def test_action_is_a_composite_with_the_documented_inputs():
    assert ACTION["runs"]["using"] == "composite"
    assert {"path", "fail-on", "args", "base", "version", "upload-sarif", "sarif-file"} <= set(ACTION["inputs"])
    upload = STEPS["Upload SARIF"]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    review = STEPS["fba review"]
    assert review["env"]["FBA_BASE"] == "${{ inputs.base || github.base_ref }}"
    assert review["env"]["FBA_FAIL_ON_INPUT"] == "${{ inputs.fail-on }}"
    assert STEPS["Fail on findings"]["if"] == "steps.review.outputs.exit-code != '0'"


def test_install_step_installs_this_checkout_or_the_pinned_version(tmp_path):
    script = STEPS["Install fba"]["run"]
    assert '"$FBA_ACTION_PATH"' in script and "fastapi-backend-agent==$FBA_VERSION" in script
    assert STEPS["Install fba"]["env"]["FBA_ACTION_PATH"] == "${{ github.action_path }}"


def test_review_reports_only_the_pull_requests_changes_as_sarif(pull_request, tmp_path):
    outputs = tmp_path / "github_output"
    proc = run_step("fba review", pull_request, review_inputs(FBA_PATHS="backend"), outputs)
    assert proc.returncode == 0, proc.stderr
    assert _outputs(outputs) == {"exit-code": "1"}  # recorded for the last step; the upload runs first
    log = json.loads((pull_request / "fba.sarif").read_text(encoding="utf-8"))
    results = log["runs"][0]["results"]
    locations = [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                  r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results]
    assert locations == [("FBA203", "backend/app/items.py", 11)]  # the new route only, root-relative

    fail = run_step("Fail on findings", pull_request, {"FBA_EXIT": "1", "FBA_FAIL_ON_INPUT": "low"}, outputs)
    assert fail.returncode == 1


def test_without_a_base_everything_is_reviewed(pull_request, tmp_path):
    outputs = tmp_path / "github_output"
    proc = run_step("fba review", pull_request, review_inputs(FBA_BASE=""), outputs)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((pull_request / "fba.sarif").read_text(encoding="utf-8"))["runs"][0]["results"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [6, 11]


def test_fail_on_and_extra_arguments_are_passed(pull_request, tmp_path):
    outputs = tmp_path / "github_output"
    proc = run_step("fba review", pull_request, review_inputs(FBA_FAIL_ON_INPUT="high"), outputs)
    assert proc.returncode == 0, proc.stderr
    assert _outputs(outputs) == {"exit-code": "0"}  # FBA203 is low: below high
    outputs.unlink()
    proc = run_step("fba review", pull_request, review_inputs(FBA_EXTRA_ARGS="--ignore FBA203"), outputs)
    assert proc.returncode == 0, proc.stderr
    assert _outputs(outputs) == {"exit-code": "0"}
    assert json.loads((pull_request / "fba.sarif").read_text(encoding="utf-8"))["runs"][0]["results"] == []


def test_an_fba_error_fails_the_step_before_the_upload(pull_request, tmp_path):
    outputs = tmp_path / "github_output"
    proc = run_step("fba review", pull_request, review_inputs(FBA_FAIL_ON_INPUT="urgent"), outputs)
    assert proc.returncode == 2
    assert "--fail-on" in proc.stderr
    assert _outputs(outputs) == {"exit-code": "2"}
