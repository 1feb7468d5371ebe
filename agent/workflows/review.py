"""`fba review` with the model: the agent's judgement joins the static findings. No printing.

    project = ProjectSources.load(config.root, options.exclude)      # project sources for the index
    targets = [ReviewTarget("app/api/items.py"), ...]                 # repository paths to review
    outcome = run_model_pass(project, targets, static.findings, config, options, on_event, log)
    result = merge(static, outcome)

Per reviewed file the model gets a packed context (`agent.context.packing`: the file, the index
facts, the static findings, spec sections, definitions from other files, within a token budget,
with what did not fit listed) and the read-only tools plus `report_findings`. Findings come back
only through that tool: its input is validated against the tool's JSON schema (an invalid call is
answered with `is_error` so the model can fix it), and every finding is anchored: its `quote` must
be the code at its lines; a quote found elsewhere moves the finding to the nearest occurrence, a
quote found nowhere drops it (counted). `--batch` sends one forced `report_findings` request per
file through the Message Batches API (half price, no tool loop), remembers the batch in the store
and, when the same review is run again, collects that batch instead of submitting a new one.

Decisions on the contracts:
- Model findings have rule id `FBA-LLM-<category>` (one per checklist category, persona
  independent), `source: "llm"` and the model's `confidence`; config `min-confidence` drops the ones
  below it, `select` / `ignore` / `severity` apply by category, `# fba: ignore[...]` by rule or
  category.
- Merge: a model finding of the same file and category whose lines overlap a static finding (or a
  more confident model finding) is a duplicate and left out; the static finding stays.
- A model `reject` of a static finding never removes it: static rules are deterministic and CI
  relies on them. The verdict is returned (and shown by the CLI) so the user can suppress it.
- Paths: the model sees repository paths (relative to the project root, as its tools take them);
  findings are mapped back to display paths (relative to the current directory) for the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from agent.analysis.analyzer import apply_severity
from agent.analysis.index import ProjectIndex
from agent.analysis.discovery import collect_files
from agent.analysis.runner import build_index
from agent.analysis.source import decode_source
from agent.analysis.suppressions import MODEL_RULE_PREFIX, is_suppressed, suppressions
from agent.config import Config
from agent.context.files import RepoFiles
from agent.context.packing import (
    DEFAULT_BUDGET_TOKENS,
    PackedContext,
    definition_sections,
    pack,
    review_sections,
)
from agent.context.redact import redact
from agent.errors import InputError, ModelError
from agent.llm.client import BatchStatus, ModelClient, Reply
from agent.llm.events import Event, EventSink, RequestDone
from agent.llm.loop import Limits, Prompt, build_request, run_tool_loop, system_blocks
from agent.llm.models import price_for, resolve_model
from agent.llm.tools import (
    Required,
    Tool,
    array,
    closed_object_schema,
    integer,
    number,
    read_only_tools,
    string,
)
from agent.personas import load_checklist, load_persona, render_checklist, task_prompt
from agent.store import COMPLETED, SUBMITTED, SessionLog, Store, StoreError, ended_by
from agent.types import CATEGORIES, CHARS_PER_TOKEN, Finding, ReviewResult, Severity, Skipped, Usage
from agent.workflows.ask import repository_context

REPORT_TOOL = "report_findings"
RULE_PREFIX = MODEL_RULE_PREFIX
BATCH_COMMAND = "review --batch"
MAX_TOKENS = 8192
POLL_START, POLL_MAX = 1.0, 30.0  # seconds between batch polls (doubling)


# -- the report_findings tool ------------------------------------------------------------------

FINDING_SCHEMA = closed_object_schema(
    category=Required(string(enum=list(CATEGORIES))),
    severity=Required(string(enum=[s.value for s in Severity])),
    path=Required(string("the reviewed file, as given in the context", minLength=1)),
    line=Required(integer(minimum=1)),
    end_line=integer(minimum=1),
    title=Required(string("one short line", minLength=1)),
    detail=Required(string("why it matters, in a few sentences")),
    fix=string("how to fix it, briefly"),
    quote=Required(string("the exact code at line..end_line, copied without line numbers", minLength=1)),
    confidence=Required(number(minimum=0, maximum=1)),
)
VERDICT_SCHEMA = closed_object_schema(
    rule=Required(string(minLength=1)),
    path=Required(string(minLength=1)),
    line=Required(integer(minimum=1)),
    verdict=Required(string(enum=["confirm", "reject"])),
    reason=Required(string()),
)
REPORT_SCHEMA = closed_object_schema(
    findings=Required(array(FINDING_SCHEMA)),
    static_findings=array(VERDICT_SCHEMA, "your verdict on each static finding already reported"),
)


def schema_errors(value: Any, schema: Mapping[str, Any], where: str = "input") -> list[str]:
    """What is wrong with `value` under the JSON-schema subset the tool schemas use (type, enum,
    required, properties, additionalProperties, items, minimum, maximum, minLength)."""
    kind = schema.get("type")
    checks = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}
    if kind and (not isinstance(value, checks[kind]) or (kind in {"integer", "number"} and isinstance(value, bool))):
        return [f"{where} must be a{'n' if kind[0] in 'aeiou' else ''} {kind}, got {json.dumps(value)[:60]}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where} must be one of {', '.join(map(str, schema['enum']))}, got {value!r}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where} must be at least {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{where} must be at most {schema['maximum']}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{where} must not be empty")
    if kind == "object":
        properties = schema.get("properties", {})
        errors += [f"{where}.{name} is required" for name in schema.get("required", ()) if name not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{where}.{name} is not a known field" for name in value if name not in properties]
        for name, sub in properties.items():
            if name in value:
                errors += schema_errors(value[name], sub, f"{where}.{name}")
    if kind == "array" and "items" in schema:
        for position, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{position}]")
    return errors


@dataclass(frozen=True)
class Verdict:
    """The model's verdict on a static finding: `confirm` or `reject`, and why."""

    rule: str
    path: str
    line: int
    verdict: str
    reason: str


@dataclass
class FindingsCollector:
    """Receives `report_findings` calls: validates, anchors and keeps the model's findings."""

    sources: Mapping[str, str]  # repository path -> text
    findings: list[Finding] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    reanchored: int = 0
    dropped: list[str] = field(default_factory=list)
    invalid_calls: int = 0
    reported: set[str] = field(default_factory=set)  # the files with a valid report_findings call

    def tool(self, path: str) -> Tool:
        """`report_findings` for the review of `path`."""
        return Tool(REPORT_TOOL,
                    "Report your review of the file: every finding with the exact code it is about (`quote`), "
                    "and your verdict on each static finding. Call it once, with an empty `findings` list "
                    "when the file has no problem.",
                    REPORT_SCHEMA, lambda tool_input: self.add(tool_input, path))

    def add(self, tool_input: Any, path: str) -> str:
        """Record one call's findings; an invalid call is an InputError the model sees."""
        errors = schema_errors(tool_input, REPORT_SCHEMA)
        errors += [f"input.findings[{n}].path must be '{path}' (the reviewed file), got '{f['path']}'"
                   for n, f in enumerate(tool_input.get("findings", []) if not errors else [])
                   if f["path"] != path]
        if errors:
            self.invalid_calls += 1
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise InputError("report_findings input is invalid: " + "; ".join(errors[:5]) + more + ". Nothing was recorded; call it again.")
        notes = [self._add_finding(number, raw, path) for number, raw in enumerate(tool_input["findings"])]
        self.verdicts += [Verdict(v["rule"], v["path"], v["line"], v["verdict"], v["reason"])
                          for v in tool_input.get("static_findings", [])]
        kept = sum(1 for note in notes if not note.startswith("dropped"))
        self.reported.add(path)
        return "\n".join([f"recorded {kept} finding(s) for {path}", *(n for n in notes if n)])

    def _add_finding(self, number: int, raw: Mapping[str, Any], path: str) -> str:
        claimed_end = max(raw.get("end_line", raw["line"]), raw["line"])
        span = anchor(self.sources.get(path, ""), raw["line"], claimed_end, raw["quote"])
        if span is None:
            self.dropped.append(f"{path}:{raw['line']} {raw['title']}")
            return f"dropped finding {number}: its quote is not in {path}"
        note = ""
        if span[0] != raw["line"]:
            self.reanchored += 1
            note = f"finding {number}: the quote is at line {span[0]}, not {raw['line']}; moved there"
        self.findings.append(model_finding(raw, path, span))
        return note


def model_finding(raw: Mapping[str, Any], path: str, span: tuple[int, int]) -> Finding:
    message = raw["detail"].strip() or raw["title"]
    if raw.get("fix", "").strip():
        message += f" Fix: {raw['fix'].strip()}"
    return Finding(rule=RULE_PREFIX + raw["category"], category=raw["category"],
                   severity=Severity(raw["severity"]), path=path, line=span[0], end_line=span[1],
                   message=message, source="llm", confidence=float(raw["confidence"]), title=raw["title"].strip())


_NUMBER_PREFIX = re.compile(r"^\s*\d+\t")  # a quote copied with read_file's line numbers
_REDACTED = re.compile(r"\[REDACTED [^\]]*\]")  # the model saw (and may quote) redaction markers


def _line_pattern(quoted: str) -> re.Pattern[str]:
    """A quoted line as a pattern: literal text, with any redaction marker standing for the secret."""
    return re.compile(".+?".join(re.escape(part) for part in _REDACTED.split(quoted)))


def anchor(text: str, line: int, end_line: int, quote: str) -> tuple[int, int] | None:
    """Where `quote` is in `text`: the claimed span when the quote starts inside it, else the
    nearest occurrence to `line`, else None. Lines compare without surrounding whitespace, a
    quoted line may be part of the file's line, and a `[REDACTED ...]` marker matches the secret."""
    wanted = [_NUMBER_PREFIX.sub("", q).strip() for q in quote.splitlines()]
    while wanted and not wanted[0]:
        wanted.pop(0)
    while wanted and not wanted[-1]:
        wanted.pop()
    if not wanted:
        return None
    patterns = [_line_pattern(q) for q in wanted]
    lines = [l.strip() for l in text.splitlines()]
    starts = [i + 1 for i in range(len(lines) - len(wanted) + 1)
              if all(p.search(lines[i + k]) for k, p in enumerate(patterns))]
    if not starts:
        return None
    inside = [s for s in starts if line <= s <= end_line]
    if inside:
        return line, max(end_line, inside[0] + len(wanted) - 1)
    nearest = min(starts, key=lambda s: (abs(s - line), s))
    return nearest, nearest + len(wanted) - 1


# -- what the model pass works on --------------------------------------------------------------


@dataclass(frozen=True)
class ProjectSources:
    """The project as the model pass sees it: the root its tools are confined to, every Python
    source by repository path (for the index and definitions), and repository -> display paths."""

    root: Path
    sources: Mapping[str, str]
    display: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path, exclude: Sequence[str] = (), cwd: Path | None = None) -> "ProjectSources":
        """Every readable Python file under `root` (unparsable ones only miss from the index)."""
        root = root.resolve()
        sources: dict[str, str] = {}
        display: dict[str, str] = {}
        for file in collect_files([root], root, exclude):
            relative = file.resolve().relative_to(root).as_posix()
            try:
                sources[relative] = decode_source(file.read_bytes(), relative)
            except (InputError, OSError):
                continue
            display[relative] = os.path.relpath(file.resolve(), (cwd or Path.cwd()).resolve()).replace(os.sep, "/")
        return cls(root, sources, display)

    def repo_path(self, file: Path) -> str | None:
        """A file's repository path, or None when it lies outside the root."""
        try:
            return file.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None

    def shown(self, path: str) -> str:
        return self.display.get(path, path)

    def index(self, auth_dependencies: Sequence[str] = (), public_routes: Sequence[str] = ()) -> ProjectIndex:
        """The static engine's index of every source (files that do not parse are left out)."""
        return build_index(self.sources, auth_dependencies, public_routes)


@dataclass(frozen=True)
class ReviewTarget:
    """A file for the model to review (repository path) and its changed lines (None: all)."""

    path: str
    lines: frozenset[int] | None = None


@dataclass(frozen=True)
class PassOptions:
    """How the model pass runs: spec text, batch mode and how long to wait for a batch (None:
    until it ends), whether the model sees the static findings, the context budget."""

    spec_text: str = ""
    batch: bool = False
    batch_wait: float | None = None
    static_context: bool = True
    budget_tokens: int = DEFAULT_BUDGET_TOKENS


@dataclass(frozen=True)
class ModelPass:
    """What the model pass produced, findings in display paths, plus everything worth telling:
    verdicts, anchoring, what was filtered, what did not fit, what was not reviewed."""

    findings: tuple[Finding, ...]
    model: str
    usage: Usage
    files: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    reanchored: int = 0
    dropped: tuple[str, ...] = ()
    invalid_calls: int = 0
    below_confidence: int = 0
    suppressed: int = 0
    left_out: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    not_reviewed: tuple[Skipped, ...] = ()
    failed: tuple[str, ...] = ()  # files the model failed on (no valid report): the pass did not do its job
    redactions: int = 0
    stop_reason: str = ""
    pending_batch: str | None = None
    resumed_batch: str | None = None
    session_id: str | None = None


BatchProgress = Callable[[BatchStatus], None]


def run_model_pass(project: ProjectSources, targets: Sequence[ReviewTarget], static: Sequence[Finding],
                   config: Config, options: Any, on_event: EventSink, log: SessionLog,
                   settings: PassOptions = PassOptions(), environ: Mapping[str, str] | None = None,
                   on_batch: BatchProgress | None = None) -> ModelPass:
    """Review `targets` with the model. `static` findings are in display paths; `options` is the
    static review's `ReviewOptions` (select, ignore, severity, auth settings)."""
    persona = load_persona(config["agent"], project.root)
    model = resolve_model(config["model"] or persona.model, config["models"])
    client = ModelClient.from_config(config, environ)  # no key: ModelError before any work
    files = RepoFiles(project.root, config["deny"])
    index = project.index(options.auth_dependencies, options.public_routes)
    by_display = {project.shown(p): p for p in project.sources}
    static_by_path: dict[str, list[Finding]] = {}
    for finding in static:
        static_by_path.setdefault(by_display.get(finding.path, finding.path), []).append(finding)
    packed, not_reviewed = {}, []
    for target in targets:
        try:
            packed[target.path] = _pack_target(project, target, index, files,
                                               static_by_path.get(target.path, []) if settings.static_context else [],
                                               settings)
        except InputError as exc:
            not_reviewed.append(Skipped(project.shown(target.path), f"not sent to the model: {exc}"))
    prompt = Prompt(persona.system_prompt, task_prompt("review"),
                    "# Checklist\n\n" + render_checklist(load_checklist(persona.name)), repository_context(files))
    collector = FindingsCollector(project.sources)
    run = _Run(client, model, prompt, files, collector, config, on_event, log)
    if not packed:
        pass  # nothing the model may see: no request, no session
    elif settings.batch:
        run.batch(packed, settings.batch_wait, on_batch or (lambda status: None))
    else:
        log.start("review", str(project.root), persona.name, model, f"review of {len(packed)} file(s)")
        run.interactive(packed)
    not_reviewed += [Skipped(project.shown(p), f"not reviewed by the model: {why}") for p, why in run.unreviewed.items()]
    lines = {t.path: t.lines for t in targets}
    kept, below, suppressed = _filter(collector.findings, project, lines, config, options)
    return ModelPass(
        findings=tuple(kept), model=model, usage=run.usage, files=tuple(project.shown(p) for p in packed),
        verdicts=tuple(replace(v, path=project.shown(v.path)) for v in collector.verdicts),
        reanchored=collector.reanchored, dropped=tuple(collector.dropped), invalid_calls=collector.invalid_calls,
        below_confidence=below, suppressed=suppressed,
        left_out={project.shown(p): c.left_out for p, c in packed.items() if c.left_out},
        not_reviewed=tuple(not_reviewed), failed=tuple(project.shown(p) for p in run.failed),
        redactions=run.redactions, stop_reason=run.stop_reason,
        pending_batch=run.pending_batch, resumed_batch=run.resumed_batch, session_id=log.session_id,
    )


def _pack_target(project: ProjectSources, target: ReviewTarget, index: ProjectIndex, files: RepoFiles,
                 static: Sequence[Finding], settings: PassOptions) -> PackedContext:
    files.read_file(target.path, 1, 1)  # InputError when the file itself is denied or ignored
    text = project.sources.get(target.path)
    if text is None:
        raise InputError(f"'{target.path}' is not a readable Python source of the project")
    repo_static = [f.with_(path=target.path) for f in static]
    definitions, withheld = definition_sections(index, target.path, project.sources, files.read_file)
    sections = review_sections(target.path, text, index, definitions, repo_static, settings.spec_text, target.lines)
    return pack(sections, settings.budget_tokens, withheld)


def file_review_prompt(path: str, context: PackedContext) -> str:
    """The user message of one file's review."""
    return (f"Review `{path}`. Report every finding, and your verdict on each static finding, with one "
            f"`{REPORT_TOOL}` call.\n\n{context.text}")


class _Run:
    """One model pass in progress: the client, the prompt, the collector, usage and the store."""

    def __init__(self, client: ModelClient, model: str, prompt: Prompt, files: RepoFiles,
                 collector: FindingsCollector, config: Config, on_event: EventSink, log: SessionLog) -> None:
        self.client, self.model, self.prompt, self.files = client, model, prompt, files
        self.collector, self.config, self.on_event, self.log = collector, config, on_event, log
        self.usage = Usage()
        self.redactions = 0
        self.stop_reason = "end_turn"
        self.unreviewed: dict[str, str] = {}  # repository path -> why the model did not review it
        self.failed: list[str] = []  # the files of `unreviewed` the model failed on
        self.pending_batch: str | None = None
        self.resumed_batch: str | None = None

    def record(self, event: Event) -> None:
        if isinstance(event, RequestDone):
            self.log.usage(self.model, event.usage)
        self.on_event(event)

    def interactive(self, packed: Mapping[str, PackedContext]) -> None:
        """One tool loop per file; a `max-cost` stop leaves the remaining files unreviewed, and a
        file without a valid `report_findings` call is not reviewed (the model failed on it)."""
        max_cost = self.config["max-cost"]
        try:
            for position, (path, context) in enumerate(packed.items()):
                remaining = None if max_cost is None else max(max_cost - self.usage.cost_usd, 0.0)
                tools = [*read_only_tools(self.files), self.collector.tool(path)]
                result = run_tool_loop(self.client, self.model, self.prompt, file_review_prompt(path, context), tools,
                                       Limits(max_cost=remaining, max_tokens=MAX_TOKENS), self.record)
                self.usage += result.usage
                self.redactions += result.redactions
                for call in result.tool_calls:
                    self.log.tool_call(call.name, call.input, call.is_error, call.output_chars)
                self.log.messages(result.messages)
                if result.stop_reason == "max_cost":
                    self.stop_reason = "max_cost"
                    self.unreviewed.update(dict.fromkeys(list(packed)[position:], "max_cost"))
                    break
                if path not in self.collector.reported:
                    self._model_failed(path, f"no valid {REPORT_TOOL} call (the model stopped: {result.stop_reason})")
        except BaseException as exc:
            self.log.finish(ended_by(exc))
            raise
        self.log.finish(COMPLETED)

    # -- batch mode ------------------------------------------------------------------------------

    def batch(self, packed: Mapping[str, PackedContext], wait: float | None, progress: BatchProgress) -> None:
        """Submit (or find again) the batch of these requests, wait for it, collect its results."""
        requests, ids = self._batch_requests(packed)
        key = _batch_key(self.model, str(self.files.root), requests)
        found = find_batch(key)
        if found is not None:
            session_id, batch_id, ids = found
            self.log.resume(session_id)
            self.resumed_batch = batch_id
        else:
            self._check_batch_cost(requests)
            batch_id = self.client.create_batch(requests)
            self.log.start(BATCH_COMMAND, str(self.files.root), "", self.model, f"batch review of {len(requests)} file(s)")
            self.log.messages([{"role": "batch", "content": {"batch_id": batch_id, "key": key, "files": ids}}])
            self.log.finish(SUBMITTED)
        status = wait_for_batch(self.client, batch_id, wait, progress)
        if not status.ended:
            self.pending_batch = batch_id
            self.stop_reason = "batch_pending"
            self.unreviewed = dict.fromkeys(packed, "batch_pending")
            return
        self._collect(batch_id, ids)

    def _batch_requests(self, packed: Mapping[str, PackedContext]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """One request per file, `report_findings` forced (a batch has no tool loop), text redacted."""
        system = system_blocks(self.prompt, self._scrub)
        tool = self.collector.tool("")
        requests, ids = [], {}
        for position, (path, context) in enumerate(packed.items(), start=1):
            custom_id = f"file-{position:04d}"
            ids[custom_id] = path
            text = self._scrub(file_review_prompt(path, context), "review context")
            params = build_request(self.model, system, [tool], [{"role": "user", "content": [{"type": "text", "text": text}]}],
                                   MAX_TOKENS)
            params["tool_choice"] = {"type": "tool", "name": REPORT_TOOL}
            requests.append({"custom_id": custom_id, "params": params})
        return requests, ids

    def _scrub(self, text: str, where: str) -> str:
        clean, count = redact(text, (self.client.api_key,))
        self.redactions += count
        return clean

    def _check_batch_cost(self, requests: list[dict[str, Any]]) -> None:
        price, max_cost = price_for(self.model), self.config["max-cost"]
        if max_cost is None:
            return
        if price is None:
            raise ModelError(f"--max-cost needs a known price, and model '{self.model}' has none in fba's price table")
        size = sum(len(json.dumps(r["params"], ensure_ascii=False)) for r in requests)
        estimate = price.cost(size // CHARS_PER_TOKEN, 0, 0, 0) / 2  # batches cost half
        if estimate > max_cost:
            raise ModelError(f"the batch would cost about ${estimate:.2f} in input alone, over --max-cost ${max_cost:.2f}")

    def _collect(self, batch_id: str, ids: Mapping[str, str]) -> None:
        results = self.client.batch_results(batch_id)
        for custom_id, path in ids.items():
            outcome = results.get(custom_id, "no result in the batch")
            if isinstance(outcome, str):
                self.stop_reason = f"batch request failed ({outcome})"
                self._model_failed(path, self.stop_reason)
                continue
            self.usage += outcome.usage
            self.log.usage(self.model, outcome.usage)
            self._take_report(outcome, path)
            if path not in self.collector.reported:
                self._model_failed(path, f"no valid {REPORT_TOOL} call in the batch result")
        self.log.finish(COMPLETED)

    def _model_failed(self, path: str, why: str) -> None:
        self.unreviewed[path] = why
        self.failed.append(path)

    def _take_report(self, reply: Reply, path: str) -> None:
        for use in reply.tool_uses:
            if use["name"] == REPORT_TOOL:
                try:
                    self.collector.add(use.get("input"), path)
                except InputError:
                    pass  # no loop to send the error back to; counted in `invalid_calls`


def _batch_key(model: str, root: str, requests: list[dict[str, Any]]) -> str:
    """Same model, project and request texts -> same key: the batch to resume."""
    return hashlib.sha256(json.dumps([model, root, requests], sort_keys=True).encode()).hexdigest()[:24]


def find_batch(key: str, store_path: Path | None = None) -> tuple[str, str, dict[str, str]] | None:
    """(session id, batch id, custom id -> path) of a submitted, uncollected batch with this key."""
    try:
        store = Store.open(store_path)
    except StoreError:
        return None
    try:
        for run in store.recent_runs(200):
            if run.command != BATCH_COMMAND or run.status != "submitted":
                continue
            for message in store.messages(run.id):
                content = message["content"]
                if message["role"] == "batch" and isinstance(content, dict) and content.get("key") == key:
                    return run.id, content["batch_id"], dict(content["files"])
    except StoreError:
        return None
    finally:
        store.close()
    return None


def wait_for_batch(client: ModelClient, batch_id: str, wait: float | None, progress: BatchProgress,
                   sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> BatchStatus:
    """Poll until the batch ends or `wait` seconds passed (None: no limit), reporting each status."""
    deadline = None if wait is None else clock() + wait
    delay = POLL_START
    while True:
        status = client.batch_status(batch_id)
        progress(status)
        if status.ended or (deadline is not None and clock() + delay > deadline):
            return status
        sleep(delay)
        delay = min(delay * 2, POLL_MAX)


# -- filtering and merging ----------------------------------------------------------------------


def _filter(findings: Iterable[Finding], project: ProjectSources, lines: Mapping[str, frozenset[int] | None],
            config: Config, options: Any) -> tuple[list[Finding], int, int]:
    """Model findings in display paths that pass the changed lines, select/ignore, suppression
    comments and `min-confidence` (with severity overrides applied); and the two counts dropped."""
    kept, below, suppressed = [], 0, 0
    tables: dict[str, dict[int, frozenset[str]]] = {}
    for finding in findings:
        changed = lines.get(finding.path)
        if changed is not None and not any(n in changed for n in range(finding.line, (finding.end_line or finding.line) + 1)):
            continue
        if not _selected(finding, options.select, options.ignore):
            continue
        table = tables.setdefault(finding.path, suppressions(project.sources.get(finding.path, "")))
        if is_suppressed(table, finding.line, finding.rule, finding.category):
            suppressed += 1
            continue
        if finding.confidence < config["min-confidence"]:
            below += 1
            continue
        kept.append(apply_severity(finding, options.severity).with_(path=project.shown(finding.path)))
    return kept, below, suppressed


def _selected(finding: Finding, select: Sequence[str], ignore: Sequence[str]) -> bool:
    def matches(selectors: Sequence[str]) -> bool:
        return any(s.strip().upper() == "ALL" or s.strip().lower() == finding.category
                   or finding.rule.upper().startswith(s.strip().upper()) for s in selectors)

    return (not select or matches(select)) and not matches(ignore)


def overlaps(a: Finding, b: Finding) -> bool:
    return a.path == b.path and a.category == b.category and \
        a.line <= (b.end_line or b.line) and b.line <= (a.end_line or a.line)


def merge_findings(static: Sequence[Finding], model: Sequence[Finding]) -> tuple[list[Finding], int]:
    """Static findings, plus the model findings that duplicate none of them nor a more confident
    model finding (same file, category, overlapping lines); and how many duplicates were left out."""
    kept = list(static)
    duplicates = 0
    for finding in sorted(model, key=lambda f: -f.confidence):
        if any(overlaps(finding, other) for other in kept):
            duplicates += 1
        else:
            kept.append(finding)
    return sorted(kept, key=Finding.sort_key), duplicates


def merge(static: ReviewResult, outcome: ModelPass, outside: Sequence[Skipped] = ()) -> ReviewResult:
    """The static result with the model's findings merged in, the model's usage, and the files the
    model did not review (`outside`: the ones it could not be asked about)."""
    findings, _ = merge_findings(static.findings, outcome.findings)
    return ReviewResult(tuple(findings), files=static.files, skipped=static.skipped,
                        suppressed=static.suppressed + outcome.suppressed, usage=static.usage + outcome.usage,
                        not_reviewed=(*static.not_reviewed, *outside, *outcome.not_reviewed),
                        warnings=static.warnings)


def pass_failed(static: ReviewResult, targets: Sequence[ReviewTarget], outside: Sequence[Skipped],
                project: ProjectSources, error: Exception) -> ReviewResult:
    """The static result when the model pass failed as a whole: every target is not reviewed."""
    why = f"not reviewed by the model: the model pass failed: {error}"
    return replace(static, not_reviewed=(*static.not_reviewed, *outside,
                                         *(Skipped(project.shown(t.path), why) for t in targets)))


def model_targets(project: ProjectSources, paths: Sequence[Path], exclude: Sequence[str] = (),
                  scope: Mapping[Path, frozenset[int] | None] | None = None) -> tuple[list[ReviewTarget], list[Skipped]]:
    """The files under `paths` for the model (only those in `scope`, with its changed lines, for
    --changed / --diff), and the ones it cannot see because they are outside the project root."""
    wanted = None if scope is None else {path.resolve(): lines for path, lines in scope.items()}
    targets: list[ReviewTarget] = []
    outside: list[Skipped] = []
    for file in collect_files(paths, project.root, exclude):
        if wanted is not None and file.resolve() not in wanted:
            continue
        repo = project.repo_path(file)
        if repo is None:
            outside.append(Skipped(str(file), f"not sent to the model: outside the project root {project.root}"))
        else:
            targets.append(ReviewTarget(repo, None if wanted is None else wanted[file.resolve()]))
    return targets, outside
