"""Speed and memory of `fba review` on a real FastAPI codebase, against bandit and plain `ast.parse`.

    .venv/bin/python bench/static_speed.py [--runs 5] [--sample 5]

Downloads the open-webui 0.12.4 wheel from PyPI once (`pip download --no-deps`, cached in the
git-ignored `bench/.corpus/`), unpacks its Python files, then times whole processes (median of
`--runs`): `ast.parse` of every file in one process (the floor), `bandit -r -q`, fba cold
(`--no-cache`), fba warm (cache filled, nothing changed), fba after touching one file (a comment
appended; and, without a target, a new function appended, which changes the file's facts),
`fba --help` and `fba review` of one small file (without and with the cache); fba cold pinned to one core (the same
parallelism as the single-process `ast.parse` floor); and the text against the JSON report of a
warm review with 2,000+ findings (the corpus copied `--copies` times). Every figure has its wall
time and the CPU seconds of the whole process tree (workers included). Peak memory is the largest single process
(`wait4` rusage, workers included) plus the sampled PSS sum over fba's process tree. It prints every
figure and the ratios the issue sets targets for. `--sample N` also lists fba's findings per rule
with N random examples each, for the precision check. Ratios are what matter: absolute times
depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import random
import statistics
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS_HOME = REPO / "bench" / ".corpus"
PACKAGE, VERSION = "open-webui", "0.12.4"
AST_FLOOR = (
    "import ast, pathlib, sys\n"
    "for p in sorted(pathlib.Path(sys.argv[1]).rglob('*.py')):\n"
    "    ast.parse(p.read_bytes())\n"
)
TARGETS = {  # ratio: upper limit (issues 3 and 16)
    "fba_cold/bandit": 0.25,
    "fba_cold/ast_floor": 1.5,
    "fba_warm/fba_cold": 0.10,
    "fba_touched/fba_cold": 0.15,
    "fba_touched_def/fba_cold": 0.15,
    "text/json (big report)": 1.5,
}
BIG_REPORT_FINDINGS = 2000
ABSOLUTE_TARGETS = {"fba --help": 0.150, "fba review small file": 0.350}
MEMORY_TARGET_MB = 300


@dataclass
class Timing:
    """Median wall time and CPU seconds (process tree) of whole-process runs, and the largest
    peak RSS seen (MB)."""

    name: str
    seconds: float
    peak_mb: float
    runs: int
    cpu: float = 0.0


def corpus() -> Path:
    """The unpacked Python files of the wheel (downloaded and unpacked on first use)."""
    target = CORPUS_HOME / f"{PACKAGE}-{VERSION}"
    marker = target / ".unpacked"
    if marker.exists():
        return target
    wheels = CORPUS_HOME / "wheels"
    wheel = next(wheels.glob(f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"), None) if wheels.exists() else None
    if wheel is None:
        print(f"downloading {PACKAGE}=={VERSION} from PyPI ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels),
                        f"{PACKAGE}=={VERSION}"], check=True)
        wheel = next(wheels.glob(f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".py"):
                archive.extract(name, target)
    # Its own project root: fba's config and cache stay inside the corpus, not this repository.
    (target / "pyproject.toml").write_text("[tool.fba]\n", encoding="utf-8")
    marker.write_text("ok\n", encoding="utf-8")
    return target


def ensure_bandit() -> Path:
    """bandit from this venv, installed from the `bench` extra when missing."""
    bandit = Path(sys.executable).parent / "bandit"
    if not bandit.exists():
        extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
        print(f"installing {' '.join(extra)} (the bench extra) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *extra], check=True)
    return bandit


def fba_command() -> list[str]:
    script = Path(sys.executable).parent / "fba"
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent"]


def compile_package() -> None:
    """Byte-compile fba's own modules first, as an installed tool has them: with
    PYTHONDONTWRITEBYTECODE set (some CI images, this sandbox) an editable checkout would
    otherwise compile every module on every timed run and charge that to fba."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "agent")], check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})


def run_once(command: list[str], cwd: Path, one_core: bool = False) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB, largest process of the tree) and CPU seconds (user + system,
    the process and every descendant it waited for) of one whole-process run. `one_core` pins
    it to one CPU: fba then runs in one process, as the `ast.parse` floor does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    pin = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if one_core else None
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=pin)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{errors}")
    return seconds, usage.ru_maxrss / 1024, cpu


def measure(name: str, command: list[str], cwd: Path, runs: int, before=None, one_core: bool = False) -> Timing:
    results = []
    for number in range(runs):
        if before is not None:
            before(number)
        results.append(run_once(command, cwd, one_core))
    timing = Timing(name, statistics.median(s for s, _, _ in results), max(m for _, m, _ in results), runs,
                    statistics.median(c for _, _, c in results))
    print(f"  {name:<24} {timing.seconds:8.3f} s   cpu {timing.cpu:7.3f} s   peak {timing.peak_mb:6.0f} MB"
          f"   (median of {runs})", flush=True)
    return timing


def tree_peak_mb(command: list[str], cwd: Path) -> float:
    """Peak of the summed proportional set size (PSS: shared pages split between the processes
    sharing them, so forked workers are not counted twice) of a process and its descendants,
    sampled from /proc (Linux)."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, sum(_pss_kb(pid) for pid in _tree(process.pid)))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    process.wait()
    sampler.join()
    return peak / 1024


def _tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(parents.get(pid, []))
    return found


def _pss_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")), 0)


def big_corpus(root: Path, copies: int) -> Path:
    """`copies` copies of the corpus's packages side by side in one project: a report of
    thousands of findings."""
    target = CORPUS_HOME / f"{PACKAGE}-{VERSION}-x{copies}"
    marker = target / ".copied"
    if marker.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    packages = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "__pycache__"]
    for number in range(copies):
        for package in packages:
            shutil.copytree(package, target / f"copy{number}" / package.name,
                            ignore=shutil.ignore_patterns(".fba_cache", "__pycache__"))
    (target / "pyproject.toml").write_text("[tool.fba]\n", encoding="utf-8")
    marker.write_text("ok\n", encoding="utf-8")
    return target


def count_findings(root: Path, command: list[str]) -> int:
    result = subprocess.run([*command, "review", ".", "-f", "json", "-q"], cwd=root, capture_output=True, text=True)
    return len(json.loads(result.stdout)["findings"])


def pick_touch_file(root: Path) -> Path:
    """A mid-sized router module: the everyday "I edited one endpoint file" case."""
    routers = sorted(root.rglob("routers/*.py")) or sorted(root.rglob("*.py"))
    routers.sort(key=lambda p: p.stat().st_size)
    return routers[len(routers) // 2]


def pick_small_file(root: Path) -> Path:
    files = [p for p in sorted(root.rglob("*.py")) if 1_000 < p.stat().st_size < 4_000]
    return files[len(files) // 2]


RATIOS = {  # name: (numerator, denominator) figures
    "fba_cold/bandit": ("fba cold", "bandit"),
    "fba_cold/ast_floor": ("fba cold", "ast floor"),
    "fba_warm/fba_cold": ("fba warm", "fba cold"),
    # A comment appended: the file's facts (so every cross-file fingerprint) stay the same.
    "fba_touched/fba_cold": ("fba touched 1 file", "fba cold"),
    # A function appended: the file's facts change, the index and fingerprints are updated.
    "fba_touched_def/fba_cold": ("fba touched, new def", "fba cold"),
    "text/json (big report)": ("text, big report", "json, big report"),
}
# Same parallelism on both sides: fba pinned to one core against the single-process floor.
UNTARGETED = {"fba_cold_1core/ast_floor": ("fba cold, 1 core", "ast floor")}


def print_ratios(t: dict[str, Timing]) -> None:
    print("\nratios (target), wall time and CPU seconds:")
    for name, (top, bottom) in {**RATIOS, **UNTARGETED}.items():
        wall, cpu = t[top].seconds / t[bottom].seconds, t[top].cpu / t[bottom].cpu
        limit = TARGETS.get(name)
        verdict = f"(<= {limit:.2f})  {'ok' if wall <= limit else 'MISSED'}" if limit else "(no target)"
        print(f"  {name:<26} wall {wall:7.3f}   cpu {cpu:7.3f}   {verdict}")
    print("absolute (target):")
    for name, limit in ABSOLUTE_TARGETS.items():
        value = t[name].seconds
        print(f"  {name:<24} {value * 1000:6.0f} ms   (<= {limit * 1000:.0f} ms)  {'ok' if value <= limit else 'MISSED'}")


def sample_findings(root: Path, command: list[str], per_rule: int) -> None:
    """Findings per rule on the corpus, with a few random examples each (for reading by hand)."""
    import json

    result = subprocess.run([*command, "review", ".", "-f", "json", "-q"], cwd=root, capture_output=True, text=True)
    report = json.loads(result.stdout)
    by_rule: dict[str, list[dict]] = {}
    for finding in report["findings"]:
        by_rule.setdefault(finding["rule"], []).append(finding)
    print(f"\nfindings on the corpus: {len(report['findings'])} in {report['summary']['files']} files, "
          f"{len(report['summary']['skipped'])} skipped")
    chooser = random.Random(1)
    for rule, items in sorted(by_rule.items()):
        print(f"\n{rule}  {len(items)} finding(s)")
        for f in sorted(chooser.sample(items, min(per_rule, len(items))), key=lambda f: (f["path"], f["line"])):
            line = (root / f["path"]).read_text(encoding="utf-8").splitlines()[f["line"] - 1].strip()
            print(f"  {f['path']}:{f['line']}  {f['message']}\n      | {line[:140]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--bandit-runs", type=int, default=3, help="timed bandit runs (it is slow)")
    parser.add_argument("--sample", type=int, default=0, help="also list N example findings per rule")
    parser.add_argument("--copies", type=int, default=5, help="copies of the corpus for the big text/JSON report")
    args = parser.parse_args()

    root = corpus()
    files = sorted(root.rglob("*.py"))
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    fba = fba_command()
    bandit = ensure_bandit()
    print(f"corpus: {PACKAGE} {VERSION}, {len(files)} files, {lines} lines; {os.cpu_count()} cores; "
          f"Python {sys.version.split()[0]}\n")

    compile_package()
    review = [*fba, "review", ".", "-f", "json", "-q", "-o", os.devnull]
    touched = pick_touch_file(root)
    original = touched.read_bytes()
    small = pick_small_file(root)
    timings: dict[str, Timing] = {}
    try:
        for timing in (
            measure("ast floor", [sys.executable, "-c", AST_FLOOR, str(root)], root, args.runs),
            measure("bandit", [str(bandit), "-r", "-q", "."], root, args.bandit_runs),
            measure("fba cold", [*review, "--no-cache"], root, args.runs),
            measure("fba cold, 1 core", [*review, "--no-cache"], root, args.runs, one_core=True),
        ):
            timings[timing.name] = timing
        run_once([*fba, "cache", "clean"], root)
        run_once(review, root)  # fill the cache
        timings["fba warm"] = measure("fba warm", review, root, args.runs)

        def touch(number: int) -> None:
            touched.write_bytes(original + f"\n# touched by the bench, run {number} {time.time()}\n".encode())

        timings["fba touched 1 file"] = measure("fba touched 1 file", review, root, args.runs, before=touch)

        def define(number: int) -> None:  # a new definition changes the facts: fingerprints are recomputed
            touched.write_bytes(original + f"\n\ndef bench_helper_{number}_{time.time_ns()}():\n    return 1\n".encode())

        timings["fba touched, new def"] = measure("fba touched, new def", review, root, args.runs, before=define)
    finally:
        touched.write_bytes(original)
    timings["fba --help"] = measure("fba --help", [*fba, "--help"], root, args.runs)
    big = big_corpus(root, args.copies)
    findings = count_findings(big, fba)  # also fills its cache: both reports below are warm
    print(f"  big report: {findings} findings in {args.copies} copies of the corpus"
          f"{'' if findings >= BIG_REPORT_FINDINGS else f' (fewer than {BIG_REPORT_FINDINGS}: raise --copies)'}")
    timings["text, big report"] = measure("text, big report", [*fba, "review", ".", "-q"], big, args.runs)
    timings["json, big report"] = measure("json, big report", [*fba, "review", ".", "-q", "-f", "json"], big, args.runs)
    small_review = [*fba, "review", str(small.relative_to(root)), "--no-cache", "-q", "-f", "json", "-o", os.devnull]
    timings["fba review small file"] = measure("fba review small file", small_review, root, args.runs)
    # Without the cache one file costs indexing its whole project (its findings are those of
    # `fba review .`); with it (the default) the project's index is reused.
    cached_small = [arg for arg in small_review if arg != "--no-cache"]
    timings["fba review small file, cached"] = measure("fba review small file, cached", cached_small, root, args.runs)
    tree_mb = tree_peak_mb([*review, "--no-cache"], root)
    small_lines = small.read_bytes().count(b"\n")
    print(f"\n  touched file: {touched.relative_to(root)}; small file: {small.relative_to(root)} ({small_lines} lines)")
    print_ratios(timings)
    largest = max(t.peak_mb for name, t in timings.items() if name.startswith("fba"))
    print("memory (target <= %d MB):" % MEMORY_TARGET_MB)
    print(f"  largest fba process      {largest:6.0f} MB  {'ok' if largest <= MEMORY_TARGET_MB else 'MISSED'}")
    print(f"  fba cold, process tree   {tree_mb:6.0f} MB  (PSS of main + workers, sampled) "
          f"{'ok' if tree_mb <= MEMORY_TARGET_MB else 'MISSED'}")
    if args.sample:
        sample_findings(root, fba, args.sample)


if __name__ == "__main__":
    main()
