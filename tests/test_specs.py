"""Spec loading: Markdown, Spec Kit folders and OpenAPI 3.x documents into one `Spec`; answers files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.context.specs import (
    load_answers,
    load_spec,
    mentioned_paths,
    parse_markdown,
    parse_openapi,
    parse_spec_kit,
    parse_tasks,
    schema_text,
    tick_task,
)
from agent.errors import InputError, UsageError

TASKS = "# Tasks\n\n- [x] T001 Setup\n- [ ] T002 [P] [US1] Tag model in app/models.py\n  - [ ] T003 Tag router\n"


def test_markdown_spec_title_text_and_paths():
    spec = parse_markdown("# Spec: Tags on tasks\n\nAdd `app/routes/tags.py` and tests in tests/test_tags.py.\n"
                          "See https://example.com/docs/x.py for style.\n", Path("tags.md"))
    assert (spec.title, spec.kind, spec.task) == ("Tags on tasks", "markdown", None)
    assert spec.paths == ("app/routes/tags.py", "tests/test_tags.py")
    assert spec.text.startswith("# Spec: Tags on tasks")


def test_markdown_without_a_heading_takes_its_title_from_the_file_name():
    assert parse_markdown("Add a health check.\n", Path("specs/004-health-check.md")).title == "health check"


@pytest.mark.parametrize("text", ["", "\n\n", "# Title\n\n## Section\n", "# T\n<!-- a comment only -->\n"])
def test_markdown_with_nothing_to_implement(text):
    with pytest.raises(InputError, match="nothing to implement"):
        parse_markdown(text, Path("x.md"))


def test_tasks_are_parsed_and_ticked_keeping_everything_else():
    assert [(t.id, t.done) for t in parse_tasks(TASKS)] == [("T001", True), ("T002", False), ("T003", False)]
    ticked = tick_task(TASKS.replace("\n", "\r\n"), "T003")
    assert ticked == TASKS.replace("\n", "\r\n").replace("  - [ ] T003", "  - [x] T003")
    assert tick_task(TASKS, "T001") == TASKS
    with pytest.raises(InputError, match="T999"):
        tick_task(TASKS, "T999")


def test_spec_kit_folder_with_a_task():
    files = {"spec.md": "# Feature Specification: Tags\n\nUsers tag tasks.\n", "plan.md": "Use SQLModel.\n",
             "tasks.md": TASKS}
    spec = parse_spec_kit(files, Path("specs/003-tags"), "t002")
    assert (spec.title, spec.kind, spec.task.id) == ("Tags", "spec-kit", "T002")
    assert spec.tasks_file == Path("specs/003-tags/tasks.md")
    assert "## plan.md\n\nUse SQLModel." in spec.text
    assert spec.text.endswith("T002: [P] [US1] Tag model in app/models.py\nImplement this task only; the other tasks are context.\n")
    assert "app/models.py" in spec.paths


def test_spec_kit_errors():
    folder = Path("specs/003-tags")
    with pytest.raises(InputError, match="task T001 is already done"):
        parse_spec_kit({"tasks.md": TASKS}, folder, "T001")
    with pytest.raises(InputError, match=r"no task T042 \(tasks: T001, T002, T003\)"):
        parse_spec_kit({"tasks.md": TASKS}, folder, "T042")
    with pytest.raises(InputError, match="every task in tasks.md is already done"):
        parse_spec_kit({"spec.md": "# S\n\nText.\n", "tasks.md": "- [x] T001 Done\n"}, folder)


def test_schema_task_detection():
    files = {"spec.md": "# Tags\n\nText.\n", "tasks.md": "- [ ] T001 Alembic migration for the tag table\n- [ ] T002 Router\n"}
    assert parse_spec_kit(files, Path("f"), "T001").schema_task
    assert not parse_spec_kit(files, Path("f"), "T002").schema_task


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Tasks API", "version": "2.1", "description": "Implement in `app/routes/tasks.py`."},
    "paths": {
        "/tasks/{task_id}": {
            "parameters": [{"name": "task_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "get": {"operationId": "readTask", "summary": "Read one task",
                    "responses": {"200": {"description": "OK", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Task"}}}},
                                  "404": {"description": "Not found"}}},
            "delete": {"security": [], "responses": {"204": {"description": "Deleted"}}},
        },
    },
    "components": {
        "schemas": {"Task": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}},
            "state": {"type": "string", "enum": ["open", "done"]}}}},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    },
    "security": [{"bearer": []}],
}


def test_openapi_rendering():
    spec = parse_openapi(json.dumps(OPENAPI), Path("api.json"))
    assert (spec.title, spec.kind) == ("Tasks API", "openapi")
    assert spec.paths == ("app/routes/tasks.py",)
    text = spec.text
    assert text.startswith("# Tasks API (version 2.1)\n")
    assert "### GET /tasks/{task_id} (operationId `readTask`)\nRead one task\n- security: bearer\n" in text
    assert "- parameter `task_id` in path, required: integer" in text
    assert "- response 200: OK -> application/json Task" in text and "- response 404: Not found\n" in text
    assert "### DELETE /tasks/{task_id}\n- security: none (public)" in text
    assert "- `bearer`: http (scheme=bearer, bearerFormat=JWT)" in text
    assert "- `Task`: {id: integer, tags?: list[string (maxLength=20)], state?: string (one of open/done)}" in text


def test_openapi_yaml_and_its_errors(tmp_path):
    path = tmp_path / "api.yaml"
    path.write_text("openapi: 3.1.0\ninfo: {title: Small}\npaths:\n  /ping:\n    get:\n      responses: {'200': {description: pong}}\n")
    assert "### GET /ping\n- security: not specified" in load_spec(path).text
    with pytest.raises(UsageError, match="--task needs a Markdown"):
        load_spec(path, "T001")
    for text, message in [
        ("swagger: '2.0'\npaths: {}\n", "Swagger 2.0 is not supported"),
        ("openapi: 3.0.0\ninfo: {title: x}\npaths: {}\n", "no path operations"),
        ("openapi: 4.0.0\npaths: {}\n", "OpenAPI 4.0.0 is not supported"),
        ("just: [unclosed\n", "invalid YAML"),
        ("- a list\n", "expected a mapping"),
    ]:
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            load_spec(path)


def test_schema_text_combinators_and_constraints():
    assert schema_text({"oneOf": [{"$ref": "#/x/A"}, {"type": "null"}]}) == "A | null"
    assert schema_text({"type": "integer", "minimum": 1, "maximum": 100, "default": 50}) == \
        "integer (minimum=1, maximum=100, default=50)"
    assert schema_text({"type": ["string", "null"]}) == "string | null"


def test_load_spec_from_disk(tmp_path):
    folder = tmp_path / "specs" / "001-x"
    folder.mkdir(parents=True)
    with pytest.raises(InputError, match="not a Spec Kit feature folder"):
        load_spec(folder)
    (folder / "tasks.md").write_text(TASKS)
    assert load_spec(folder).kind == "spec-kit"
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8"):
        load_spec(tmp_path / "bad.md")
    (tmp_path / "blob.md").write_bytes(b"# Spec\n\x00\x01 binary")
    with pytest.raises(InputError, match="binary file"):
        load_spec(tmp_path / "blob.md")
    with pytest.raises(InputError, match="no such spec"):
        load_spec(tmp_path / "missing.md")


def test_mentioned_paths_ignore_urls_and_versions():
    assert mentioned_paths("v1.2 see http://x.org/a/b.py, edit ./app/main.py and main.py") == ("app/main.py", "main.py")


def test_answers_files(tmp_path):
    yaml_file = tmp_path / "answers.yaml"
    yaml_file.write_text('"Which auth?": JWT bearer\n"Soft delete?": ""\nLimit: 100\n')
    assert load_answers(yaml_file) == {"Which auth?": "JWT bearer", "Limit": "100"}
    json_file = tmp_path / "answers.json"
    json_file.write_text('{"Q": ["not", "text"]}')
    with pytest.raises(InputError, match="must be text"):
        load_answers(json_file)
    json_file.write_text('["Q"]')
    with pytest.raises(InputError, match="map each question"):
        load_answers(json_file)


def test_the_bundled_example_spec_loads():
    folder = Path(__file__).resolve().parent.parent / "examples" / "specs" / "001-task-tags"
    spec = load_spec(folder, "T001")
    assert (spec.title, spec.kind) == ("Tags on tasks", "spec-kit")
    assert spec.schema_task and not load_spec(folder, "T002").schema_task
    assert "app/routes/tags.py" in load_spec(folder).paths
