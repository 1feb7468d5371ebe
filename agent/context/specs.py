"""Spec loading: a Markdown file, a Spec Kit feature folder or an OpenAPI 3.x document, each
turned into one `Spec` the implement prompt uses.

    spec = load_spec(Path("specs/003-tags"), task_id="T012")   # InputError / UsageError on bad input
    spec.text            # what the model reads
    tick_task(tasks_md, "T012")                                  # `- [ ] T012` -> `- [x] T012`

The parsers take text and return values; only `load_spec` reads the disk. A spec that cannot be
read, or that has nothing to implement (no body, no open task, no path operation), is an
`InputError` with one line saying which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from agent.errors import InputError, UsageError
from agent.textformats import decode_text, load_json_or_yaml

SPEC_KIT_FILES = ("spec.md", "plan.md", "tasks.md")
OPENAPI_SUFFIXES = (".json", ".yaml", ".yml")
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")
TASK_LINE = re.compile(r"^(?P<indent>\s*[-*] \[)(?P<mark>[ xX])(?P<rest>\]\s+(?P<id>T\d+)\b(?P<text>.*))$")
PATH_TOKEN = re.compile(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w-]+\.(?:py|toml|ini|cfg|md|ya?ml|json|txt))(?![\w/])")
SCHEMA_TASK = re.compile(r"\b(migrations?|alembic|schema change|database schema|add (a )?column|new table)\b", re.I)


@dataclass(frozen=True)
class SpecTask:
    """One `- [ ] T012 ...` line of a task list."""

    id: str
    text: str
    done: bool


@dataclass(frozen=True)
class Spec:
    """What to implement. `text` is the rendered spec for the prompt; `task` the one task asked for
    (`--task`); `tasks_file` the file whose checkbox is ticked when that task is done; `paths` the
    repository-looking paths the spec mentions."""

    title: str
    kind: str  # markdown | spec-kit | openapi
    source: Path
    text: str
    task: SpecTask | None = None
    tasks_file: Path | None = None
    paths: tuple[str, ...] = ()

    @property
    def schema_task(self) -> bool:
        """Does the task (or the whole spec, without --task) say it changes the database schema?"""
        return bool(SCHEMA_TASK.search(self.task.text if self.task else self.text))


# -- the disk edge ------------------------------------------------------------------------------------


def load_spec(path: Path, task_id: str | None = None) -> Spec:
    """Read and parse the spec at `path` (a file or a Spec Kit folder)."""
    path = Path(path)
    if path.is_dir():
        files = {name: _read(path / name) for name in SPEC_KIT_FILES if (path / name).is_file()}
        if "spec.md" not in files and "tasks.md" not in files:
            raise InputError(f"{path}: not a Spec Kit feature folder (no spec.md or tasks.md)")
        return parse_spec_kit(files, path, task_id)
    if not path.exists():
        raise InputError(f"{path}: no such spec file or folder")
    text = _read(path)
    if path.suffix.lower() in OPENAPI_SUFFIXES:
        if task_id:
            raise UsageError("--task needs a Markdown or Spec Kit spec with a task list, not an OpenAPI document")
        return parse_openapi(text, path)
    return parse_markdown(text, path, task_id)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the spec: {exc.strerror}") from None
    return decode_text(data, str(path), "a spec")


# -- Markdown and Spec Kit ----------------------------------------------------------------------------


def parse_markdown(text: str, source: Path, task_id: str | None = None) -> Spec:
    """A single Markdown spec; with `task_id`, one of its `- [ ] T012` tasks."""
    if not _has_content(text):
        raise InputError(f"{source}: the spec has nothing to implement (it is empty or only headings)")
    task = _pick_task(parse_tasks(text), task_id, source) if task_id else None
    return Spec(_title(text, source), "markdown", source, text.strip() + "\n", task,
                source if task else None, mentioned_paths(text))


def parse_spec_kit(files: dict[str, str], folder: Path, task_id: str | None = None) -> Spec:
    """A Spec Kit feature folder: `spec.md` (what), `plan.md` (how), `tasks.md` (the steps)."""
    tasks = parse_tasks(files.get("tasks.md", ""))
    if task_id:
        task = _pick_task(tasks, task_id, folder / "tasks.md")
    elif tasks and all(t.done for t in tasks):
        raise InputError(f"{folder}: every task in tasks.md is already done; nothing to implement")
    else:
        task = None
    if not any(_has_content(files.get(name, "")) for name in SPEC_KIT_FILES):
        raise InputError(f"{folder}: the spec has nothing to implement (spec.md and tasks.md are empty)")
    sections = [f"## {name}\n\n{files[name].strip()}\n" for name in SPEC_KIT_FILES if files.get(name, "").strip()]
    if task:
        sections.append(f"## The task to implement now\n\n{task.id}: {task.text}\n"
                        "Implement this task only; the other tasks are context.\n")
    text = "\n".join(sections)
    title = _title(files.get("spec.md", ""), folder) if files.get("spec.md", "").strip() else _slug_title(folder)
    return Spec(title, "spec-kit", folder, text, task, folder / "tasks.md" if task else None, mentioned_paths(text))


def parse_tasks(text: str) -> list[SpecTask]:
    tasks = []
    for line in text.splitlines():
        match = TASK_LINE.match(line)
        if match:
            tasks.append(SpecTask(match["id"], match["text"].strip(), match["mark"] != " "))
    return tasks


def tick_task(text: str, task_id: str) -> str:
    """`text` with task `task_id`'s checkbox ticked (unchanged when it already is)."""
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        body = line.rstrip("\r\n")
        match = TASK_LINE.match(body)
        if match and match["id"] == task_id:
            lines[number] = f"{match['indent']}x{match['rest']}{line[len(body):]}"
            return "".join(lines)
    raise InputError(f"task {task_id} is not in the task list")


def _pick_task(tasks: list[SpecTask], task_id: str, where: Path) -> SpecTask:
    wanted = task_id.strip().upper()
    found = next((t for t in tasks if t.id.upper() == wanted), None)
    if found is None:
        known = ", ".join(t.id for t in tasks[:12]) or "none"
        raise InputError(f"{where}: no task {task_id} (tasks: {known})")
    if found.done:
        raise InputError(f"{where}: task {found.id} is already done (ticked); nothing to implement")
    return found


def _has_content(text: str) -> bool:
    """Anything besides headings, blank lines and HTML comments."""
    without_comments = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return any(line.strip() and not line.lstrip().startswith("#") for line in without_comments.splitlines())


def _title(text: str, source: Path) -> str:
    for line in text.splitlines():
        match = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
        if match:
            return re.sub(r"^(feature specification|spec(ification)?)\s*:\s*", "", match[1], flags=re.I) or match[1]
    return _slug_title(source)


def _slug_title(source: Path) -> str:
    name = source.stem if source.suffix else source.name
    return re.sub(r"^\d+[-_]", "", name).replace("-", " ").replace("_", " ").strip() or "spec"


def mentioned_paths(text: str) -> tuple[str, ...]:
    """Relative file paths the spec names (`app/routes/tags.py`), in order, without URLs."""
    found = dict.fromkeys(m for m in PATH_TOKEN.findall(text) if "/" in m or m.endswith(".py"))
    return tuple(p.removeprefix("./") for p in found)


# -- OpenAPI --------------------------------------------------------------------------------------------


def parse_openapi(text: str, source: Path) -> Spec:
    """An OpenAPI 3.x document (JSON or YAML): its operations, schemas and security, as Markdown."""
    document = _load_document(text, source)
    version = str(document.get("openapi", ""))
    if not version:
        if "swagger" in document:
            raise InputError(f"{source}: Swagger 2.0 is not supported; convert it to OpenAPI 3.x")
        raise InputError(f"{source}: not an OpenAPI document (no 'openapi' version field)")
    if not version.startswith("3."):
        raise InputError(f"{source}: OpenAPI {version} is not supported (expected 3.x)")
    operations = list(_operations(document))
    if not operations:
        raise InputError(f"{source}: the OpenAPI document has no path operations; nothing to implement")
    info = document.get("info") or {}
    title = str(info.get("title") or _slug_title(source))
    parts = [f"# {title}" + (f" (version {info['version']})" if info.get("version") else ""), ""]
    if info.get("description"):
        parts += [str(info["description"]).strip(), ""]
    parts += ["## Operations", "", *operations]
    parts += _components_section(document, "securitySchemes", "Security schemes", _security_line)
    parts += _components_section(document, "schemas", "Schemas", _schema_line)
    text_out = "\n".join(parts).rstrip() + "\n"
    return Spec(title, "openapi", source, text_out, paths=mentioned_paths(str(info.get("description") or "")))


def _load_document(text: str, source: Path) -> dict[str, Any]:
    document = load_json_or_yaml(text, str(source))
    if not isinstance(document, dict):
        raise InputError(f"{source}: not an OpenAPI document (expected a mapping at the top)")
    return document


def _operations(document: dict[str, Any]):
    global_security = document.get("security")
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                yield _operation_text(method, str(path), operation, shared, global_security)


def _operation_text(method: str, path: str, op: dict[str, Any], shared: list, global_security: Any) -> str:
    head = f"### {method.upper()} {path}"
    if op.get("operationId"):
        head += f" (operationId `{op['operationId']}`)"
    lines = [head]
    for key in ("summary", "description"):
        if op.get(key):
            lines.append(str(op[key]).strip())
    security = op.get("security", global_security)
    lines.append(f"- security: {_security_text(security)}")
    for parameter in [*shared, *(op.get("parameters") or [])]:
        if isinstance(parameter, dict):
            required = ", required" if parameter.get("required") else ""
            name = parameter.get("name") or _ref_name(parameter.get("$ref", "")) or "?"
            lines.append(f"- parameter `{name}` in {parameter.get('in', '?')}{required}: "
                         f"{schema_text(parameter.get('schema') or {})}")
    body = op.get("requestBody")
    if isinstance(body, dict):
        required = " (required)" if body.get("required") else ""
        lines.append(f"- request body{required}: {_content_text(body)}")
    for status, response in (op.get("responses") or {}).items():
        if isinstance(response, dict):
            described = f" {response['description']}" if response.get("description") else ""
            content = _content_text(response)
            lines.append(f"- response {status}:{described}" + (f" -> {content}" if content != "no content" else ""))
    return "\n".join(lines) + "\n"


def _security_text(security: Any) -> str:
    if security is None:
        return "not specified (ask or follow the project's default)"
    if security == [] or security == [{}]:
        return "none (public)"
    names = [f"{name}{' ' + str(scopes) if scopes else ''}" for requirement in security
             if isinstance(requirement, dict) for name, scopes in requirement.items()]
    return " or ".join(names) or "none (public)"


def _content_text(holder: dict[str, Any]) -> str:
    if "$ref" in holder:
        return _ref_name(holder["$ref"])
    content = holder.get("content") or {}
    if not isinstance(content, dict) or not content:
        return "no content"
    return "; ".join(f"{media} {schema_text((c or {}).get('schema') or {})}" for media, c in content.items())


def _components_section(document: dict[str, Any], key: str, title: str,
                        line: Callable[[str, Any], str | None]) -> list[str]:
    """`## title` and a line per entry of the document's `components.<key>` (None: no line)."""
    entries = ((document.get("components") or {}).get(key)) or {}
    if not entries:
        return []
    lines = [line(name, entry) for name, entry in entries.items()]
    return ["", f"## {title}", "", *(text for text in lines if text is not None)]


def _security_line(name: str, scheme: Any) -> str | None:
    if not isinstance(scheme, dict):
        return None
    detail = ", ".join(f"{k}={scheme[k]}" for k in ("scheme", "bearerFormat", "in", "name") if scheme.get(k))
    return f"- `{name}`: {scheme.get('type', '?')}" + (f" ({detail})" if detail else "")


def _schema_line(name: str, schema: Any) -> str:
    return f"- `{name}`: {schema_text(schema if isinstance(schema, dict) else {})}"


def schema_text(schema: dict[str, Any]) -> str:
    """A compact one-line rendering of a JSON schema: refs by name, objects with their fields."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            joiner = " & " if combinator == "allOf" else " | "
            return joiner.join(schema_text(s) for s in schema[combinator] if isinstance(s, dict))
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " | ".join(map(str, kind))
    if kind == "array":
        text = f"list[{schema_text(schema.get('items') or {})}]"
    elif kind == "object" or "properties" in schema:
        required = set(schema.get("required") or ())
        fields = [f"{name}{'' if name in required else '?'}: {schema_text(sub if isinstance(sub, dict) else {})}"
                  for name, sub in (schema.get("properties") or {}).items()]
        text = "{" + ", ".join(fields) + "}" if fields else "object"
    else:
        text = str(kind)
    constraints = [f"{key}={schema[key]}" for key in ("format", "minLength", "maxLength", "minimum", "maximum",
                                                      "maxItems", "pattern", "default") if key in schema]
    if "enum" in schema:
        constraints.append("one of " + "/".join(map(str, schema["enum"])))
    if schema.get("nullable"):
        constraints.append("nullable")
    return text + (f" ({', '.join(constraints)})" if constraints else "")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1] if ref else ""


# -- answers to the agent's questions ----------------------------------------------------------------


def parse_answers(text: str, source: Path) -> dict[str, str]:
    """An answers file (`fba implement --answers FILE`): a JSON or YAML mapping question -> answer.
    Empty answers are left out (the question stays open)."""
    data = load_json_or_yaml(text, str(source))
    if not isinstance(data, dict):
        raise InputError(f"{source}: an answers file must map each question to its answer")
    answers = {}
    for question, answer in data.items():
        if not isinstance(question, str) or not isinstance(answer, (str, int, float)):
            raise InputError(f"{source}: the answer to {question!r} must be text")
        if str(answer).strip():
            answers[question] = str(answer).strip()
    return answers


def load_answers(path: Path) -> dict[str, str]:
    return parse_answers(_read(Path(path)), Path(path))
