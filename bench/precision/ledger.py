"""The precision ledger: fba on pinned real FastAPI backends, every finding judged by reading the code.

    .venv/bin/python bench/precision/ledger.py [--rule FBA404] [--unjudged-json FILE] [--no-targets]

Downloads each backend once (`pip download --no-deps`, unpacked into the git-ignored
`bench/.corpus/precision/`), runs `fba review DIR --no-cache -f json --select ALL --preview` on it,
matches every finding against `bench/precision/verdicts/<RULE>.jsonl` by a fingerprint that
survives line shifts, and prints precision per rule and overall. Exit 1 when a fixed false
positive (`fp` without `open`) is reported again or a target is missed; see README.md here.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = REPO / "bench" / ".corpus" / "precision"
VERDICTS = HERE / "verdicts"
VERDICT_KINDS = ("tp", "fp", "dismiss")
HIGH = ("critical", "high")
_WHITESPACE = re.compile(r"\s+")
TARGETS = {"precision": 0.90, "dismissable": 0.15, "high_precision": 0.95, "rule_precision": 0.80}


@dataclass(frozen=True)
class Backend:
    name: str
    package: str
    version: str
    review: str  # the folder reviewed, relative to the unpacked distribution
    held_out: bool = False  # added after the rules were tuned: its figures are the honest ones

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


BACKENDS = (
    Backend("open-webui", "open-webui", "0.12.4", "open_webui"),
    Backend("prefect", "prefect", "3.9.1", "prefect/server/api"),
    Backend("zenml", "zenml", "0.98.0", "zenml/zen_server"),
    Backend("dstack", "dstack", "0.22.5", "dstack/_internal/server"),
    Backend("khoj", "khoj", "1.42.10", "khoj"),
    Backend("argilla", "argilla-server", "2.8.0", "argilla_server", held_out=True),
    Backend("airflow", "apache-airflow-core", "3.3.2", "airflow/api_fastapi", held_out=True),
    Backend("gpustack", "gpustack", "2.3.0", "gpustack", held_out=True),
    Backend("lightrag", "lightrag-hku", "1.5.7", "lightrag/api", held_out=True),
    Backend("skypilot", "skypilot", "0.14.1", "sky/server", held_out=True),
    Backend("chromadb", "chromadb", "1.5.9", "chromadb/server", held_out=True),
    Backend("openhands", "openhands-ai", "0.9.8", "openhands/server", held_out=True),
)


@dataclass(frozen=True)
class Verdict:
    backend: str
    rule: str
    path: str
    fingerprint: str
    verdict: str
    reason: str
    open: bool = False

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.backend, self.rule, self.path, self.fingerprint)


@dataclass(frozen=True)
class Judged:
    """One reported finding with its fingerprint and verdict (None: not judged yet)."""

    backend: str
    rule: str
    severity: str
    path: str
    line: int
    message: str
    fingerprint: str
    verdict: Verdict | None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.backend, self.rule, self.path, self.fingerprint)


# --- verdicts -------------------------------------------------------------------------------

def load_verdicts(folder: Path = VERDICTS) -> dict[tuple[str, str, str, str], Verdict]:
    """Every verdict of every `<RULE>.jsonl`, by (backend, rule, path, fingerprint).

    A malformed line, an unknown verdict, a rule that does not match its file name or a key judged
    twice is an error naming the file and line: the ledger must not silently skip a verdict."""
    verdicts: dict[tuple[str, str, str, str], Verdict] = {}
    for file in sorted(folder.glob("*.jsonl")):
        for number, text in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                continue
            verdict = _parse_verdict(text, f"{file.name}:{number}")
            if verdict.rule != file.stem:
                raise ValueError(f"{file.name}:{number}: rule {verdict.rule} in the file of {file.stem}")
            if verdict.key in verdicts:
                raise ValueError(f"{file.name}:{number}: judged twice: {verdict.path} {verdict.fingerprint}")
            verdicts[verdict.key] = verdict
    return verdicts


def _parse_verdict(text: str, where: str) -> Verdict:
    try:
        data = json.loads(text)
        verdict = Verdict(
            backend=data["backend"], rule=data["rule"], path=data["path"], fingerprint=data["fingerprint"],
            verdict=data["verdict"], reason=data["reason"], open=bool(data.get("open", False)),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{where}: not a verdict ({error})") from None
    if verdict.verdict not in VERDICT_KINDS:
        raise ValueError(f"{where}: verdict must be one of {', '.join(VERDICT_KINDS)}, not {verdict.verdict!r}")
    if verdict.backend not in {b.name for b in BACKENDS}:
        raise ValueError(f"{where}: unknown backend {verdict.backend!r}")
    if not verdict.reason.strip():
        raise ValueError(f"{where}: a verdict needs a reason")
    return verdict


# --- fingerprints ---------------------------------------------------------------------------

def fingerprint(source: str, line: int) -> str:
    """`<scope>::<line text without whitespace>`, stable when lines above move; `#N` is added for
    the N-th identical line of one scope (`raise HTTPException(` opening several clauses)."""
    lines = source.splitlines()
    text = _WHITESPACE.sub("", lines[line - 1]) if 0 < line <= len(lines) else ""
    start, scope = _scope(source, line)
    repeats = sum(1 for n in range(start, line) if _WHITESPACE.sub("", lines[n - 1]) == text)
    return f"{scope}::{text}" + (f"#{repeats + 1}" if repeats else "")


def _scope(source: str, line: int) -> tuple[int, str]:
    """(first line, dotted name) of the innermost class or function around `line`."""
    best: tuple[int, str] = (1, "<module>")
    for start, end, name in _scopes(source):
        if start <= line <= end and (best[1] == "<module>" or start >= best[0]):
            best = (start, name)
    return best


@lru_cache(maxsize=64)
def _scopes(source: str) -> tuple[tuple[int, int, str], ...]:
    """(first line incl. decorators, last line, dotted name) of every class and function."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                found.append((start, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return tuple(found)


# --- backends and fba -----------------------------------------------------------------------

def unpacked(backend: Backend) -> Path:
    """The unpacked distribution (downloaded and unpacked on first use)."""
    target = CORPUS / f"{backend.package}-{backend.version}"
    marker = target / ".unpacked"
    if marker.exists():
        return target
    archive = _download(backend)
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as wheel:
            for name in wheel.namelist():
                if name.endswith(".py"):
                    wheel.extract(name, target)
    else:
        _unpack_sdist(archive, target, backend.review)
    # Its own project root: fba's config and cache stay inside the corpus, not this repository.
    (target / "pyproject.toml").write_text("[tool.fba]\n", encoding="utf-8")
    marker.write_text("ok\n", encoding="utf-8")
    return target


def _download(backend: Backend) -> Path:
    dist = CORPUS / "dist"
    stem = f"{backend.package.replace('-', '_')}-{backend.version}"
    found = _archives(dist, stem)
    if not found:
        print(f"downloading {backend.requirement} from PyPI ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dist),
                        backend.requirement], check=True)
        found = _archives(dist, stem)
    if not found:
        raise SystemExit(f"pip downloaded no archive of {backend.requirement} into {dist}")
    return found[0]


def _archives(dist: Path, stem: str) -> list[Path]:
    if not dist.exists():
        return []
    wheels = sorted(dist.glob(f"{stem}-*.whl"))
    return wheels or sorted(dist.glob(f"{stem}.tar.gz")) or sorted(dist.glob(f"{stem.replace('_', '-')}.tar.gz"))


def _unpack_sdist(archive: Path, target: Path, review: str) -> None:
    """The .py files of an sdist, re-rooted where the reviewed folder's package starts
    (`pkg-1.0/src/pkg/...` -> `pkg/...`)."""
    top = review.split("/")[0]
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            parts = member.name.split("/")
            if not member.isfile() or not member.name.endswith(".py") or top not in parts:
                continue
            relative = "/".join(parts[parts.index(top):])
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(sdist.extractfile(member).read())


def review(backend: Backend, root: Path) -> list[dict]:
    """fba's findings on the backend (every rule, preview included), paths relative to `root`."""
    folder = root / backend.review
    command = [sys.executable, "-m", "agent", "review", str(folder), "--no-cache", "-f", "json",
               "--select", "ALL", "--preview"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"fba failed on {backend.name} ({done.returncode}): {done.stderr.strip()[-2000:]}")
    findings = json.loads(done.stdout)["findings"]
    for finding in findings:
        finding["path"] = _relative(finding["path"], root, folder)
    return findings


def _relative(path: str, root: Path, folder: Path) -> str:
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = next((base / path for base in (root, folder, Path.cwd()) if (base / path).is_file()), root / path)
    return candidate.resolve().relative_to(root.resolve()).as_posix()


def judge(backend: Backend, root: Path, findings: Iterable[dict], verdicts: dict) -> list[Judged]:
    judged = []
    for finding in findings:
        source = _read(root / finding["path"])
        print_ = fingerprint(source, finding["line"])
        key = (backend.name, finding["rule"], finding["path"], print_)
        judged.append(Judged(backend.name, finding["rule"], finding["severity"], finding["path"], finding["line"],
                             finding["message"], print_, verdicts.get(key)))
    return judged


@lru_cache(maxsize=256)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


# --- scoring --------------------------------------------------------------------------------

@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    dismiss: int = 0
    unjudged: int = 0
    high_tp: int = 0
    high_fp: int = 0

    def add(self, finding: Judged) -> None:
        kind = finding.verdict.verdict if finding.verdict else "unjudged"
        setattr(self, kind, getattr(self, kind) + 1)
        if finding.severity in HIGH and kind in ("tp", "fp"):
            setattr(self, f"high_{kind}", getattr(self, f"high_{kind}") + 1)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.dismiss + self.unjudged

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def high_precision(self) -> float | None:
        return self.high_tp / (self.high_tp + self.high_fp) if self.high_tp + self.high_fp else None

    @property
    def dismissable(self) -> float | None:
        judged = self.tp + self.fp + self.dismiss
        return self.dismiss / judged if judged else None


def rule_kinds() -> dict[str, bool]:
    """Rule code -> is it a preview rule (outside the default set)."""
    sys.path.insert(0, str(REPO))
    from agent.analysis.rules import all_rules

    return {rule.code: bool(getattr(rule, "preview", False)) for rule in all_rules()}


def _ratio(value: float | None) -> str:
    return "   -" if value is None else f"{value:.2f}"


def print_table(title: str, findings: list[Judged], gone: Counter, preview: dict[str, bool]) -> Tally:
    by_rule: dict[str, Tally] = defaultdict(Tally)
    overall = Tally()
    for finding in findings:
        by_rule[finding.rule].add(finding)
        overall.add(finding)
    print(f"\n{title}")
    print(f"{'rule':<10}{'':<9}{'tp':>5}{'fp':>5}{'dism':>6}{'new':>5}{'gone':>6}{'prec':>7}{'high':>7}")
    for rule in sorted(set(by_rule) | set(gone)):
        t = by_rule[rule]
        kind = "preview" if preview.get(rule) else ""
        print(f"{rule:<10}{kind:<9}{t.tp:>5}{t.fp:>5}{t.dismiss:>6}{t.unjudged:>5}{gone[rule]:>6}"
              f"{_ratio(t.precision):>7}{_ratio(t.high_precision):>7}")
    print(f"{'overall':<19}{overall.tp:>5}{overall.fp:>5}{overall.dismiss:>6}{overall.unjudged:>5}"
          f"{sum(gone.values()):>6}{_ratio(overall.precision):>7}{_ratio(overall.high_precision):>7}")
    print(f"findings {overall.total}, dismissable share {_ratio(overall.dismissable)}")
    return overall


def target_misses(findings: list[Judged]) -> list[str]:
    overall, by_rule = Tally(), defaultdict(Tally)
    for finding in findings:
        overall.add(finding)
        by_rule[finding.rule].add(finding)
    misses = []
    if (overall.precision or 0) < TARGETS["precision"]:
        misses.append(f"overall precision {_ratio(overall.precision)} < {TARGETS['precision']}")
    if (overall.dismissable or 0) > TARGETS["dismissable"]:
        misses.append(f"dismissable share {_ratio(overall.dismissable)} > {TARGETS['dismissable']}")
    if overall.high_precision is not None and overall.high_precision < TARGETS["high_precision"]:
        misses.append(f"high-severity precision {_ratio(overall.high_precision)} < {TARGETS['high_precision']}")
    for rule, tally in sorted(by_rule.items()):
        if tally.precision is not None and tally.precision < TARGETS["rule_precision"]:
            misses.append(f"{rule} precision {_ratio(tally.precision)} < {TARGETS['rule_precision']}")
    return misses


def held_out_only(items: Iterable) -> list:
    """The findings (or verdicts) of the held-out backends: the figures the rules were not tuned on."""
    names = {b.name for b in BACKENDS if b.held_out}
    return [item for item in items if item.backend in names]


def close_fixed(fixed: list[Verdict], folder: Path = VERDICTS) -> int:
    """Remove `open` from these verdicts in their files; the number changed."""
    keys = {v.key for v in fixed}
    changed = 0
    for rule in sorted({v.rule for v in fixed}):
        file = folder / f"{rule}.jsonl"
        rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        for row in rows:
            if (row["backend"], row["rule"], row["path"], row["fingerprint"]) in keys and row.pop("open", None):
                changed += 1
        file.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return changed


def stub(finding: Judged) -> dict:
    return {"backend": finding.backend, "rule": finding.rule, "path": finding.path,
            "fingerprint": finding.fingerprint, "verdict": "", "reason": "",
            "line": finding.line, "message": finding.message}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", action="append", default=[], help="only this rule (repeatable)")
    parser.add_argument("--backend", action="append", default=[], help="only this backend (repeatable)")
    parser.add_argument("--unjudged-json", type=Path, help="write the unjudged findings as verdict stubs (JSON lines)")
    parser.add_argument("--no-targets", action="store_true", help="fail only when a fixed false positive is back")
    parser.add_argument("--close-fixed", action="store_true",
                        help="drop `open` from false positives no longer reported (they are fixed: their return fails)")
    args = parser.parse_args(argv)
    try:
        verdicts = load_verdicts()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    preview = rule_kinds()
    wanted = set(args.rule)
    findings: list[Judged] = []
    for backend in BACKENDS:
        if args.backend and backend.name not in args.backend:
            continue
        root = unpacked(backend)
        reported = [f for f in review(backend, root) if not wanted or f["rule"] in wanted]
        findings += judge(backend, root, reported, verdicts)
    seen = {f.key for f in findings}
    backends = {f.backend for f in findings} | set(args.backend)
    gone_verdicts = [v for v in verdicts.values() if v.key not in seen and (not wanted or v.rule in wanted)
                     and (not args.backend or v.backend in backends)]
    gone_all = Counter(v.rule for v in gone_verdicts)
    default = [f for f in findings if not preview.get(f.rule)]
    print_table("default rules (the targets)", default, Counter({r: n for r, n in gone_all.items() if not preview.get(r)}), preview)
    held_out = held_out_only(default)
    if held_out:
        gone_held_out = held_out_only(v for v in gone_verdicts if not preview.get(v.rule))
        print_table("default rules, held-out backends only", held_out, Counter(v.rule for v in gone_held_out), preview)
    print_table("all rules, preview included", findings, gone_all, preview)
    if args.close_fixed:
        closed = close_fixed([v for v in gone_verdicts if v.verdict == "fp" and v.open])
        print(f"closed {closed} fixed false positive(s)")
    gone_fp = Counter(v.rule for v in gone_verdicts if v.verdict == "fp")
    if gone_fp:
        print("\nfalse positives judged and no longer reported: "
              + ", ".join(f"{rule} {n}" for rule, n in sorted(gone_fp.items())))
    unjudged = [f for f in findings if f.verdict is None]
    if unjudged:
        print(f"\nunjudged ({len(unjudged)}):")
        for f in unjudged:
            print(f"  {f.rule} {f.backend} {f.path}:{f.line} {f.message[:100]}")
        if args.unjudged_json:
            args.unjudged_json.write_text("".join(json.dumps(stub(f)) + "\n" for f in unjudged), encoding="utf-8")
    back = [f for f in findings if f.verdict and f.verdict.verdict == "fp" and not f.verdict.open]
    for f in back:
        print(f"FIXED FALSE POSITIVE IS BACK: {f.rule} {f.backend} {f.path}:{f.line} ({f.verdict.reason})")
    misses = [] if args.no_targets or wanted or args.backend else target_misses(default)
    for miss in misses:
        print(f"target missed: {miss}")
    return 1 if back or misses else 0


if __name__ == "__main__":
    sys.exit(main())
