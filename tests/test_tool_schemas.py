"""The tools' input schemas: what the API receives stays exactly what `tool_schemas.json` holds
(key order included), and the builder that spells them produces plain JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

from agent.llm.edit_tools import ask_user_tool, edit_tools
from agent.llm.tools import (
    Required,
    array,
    closed_object_schema,
    integer,
    number,
    object_schema,
    read_only_tools,
    string,
)
from agent.workflows.review import REPORT_SCHEMA, REPORT_TOOL

SNAPSHOT = Path(__file__).parent / "data" / "tool_schemas.json"


def test_every_tool_schema_is_the_one_in_the_snapshot() -> None:
    tools = read_only_tools(None) + edit_tools(None) + [ask_user_tool(lambda questions: "")]
    schemas = {tool.name: tool.input_schema for tool in tools} | {REPORT_TOOL: REPORT_SCHEMA}
    assert json.dumps(schemas, indent=1) + "\n" == SNAPSHOT.read_text(encoding="utf-8")


def test_the_builder_spells_plain_json_schema() -> None:
    schema = object_schema(path=Required(string("where", minLength=1)), lines=array(integer(minimum=1)),
                           score=number(maximum=1))
    assert schema == {"type": "object", "properties": {
        "path": {"type": "string", "minLength": 1, "description": "where"},
        "lines": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "score": {"type": "number", "maximum": 1},
    }, "required": ["path"]}
    assert list(schema["properties"]) == ["path", "lines", "score"]


def test_required_is_left_out_when_nothing_is_required_and_closed_objects_say_so() -> None:
    assert object_schema(args=string()) == {"type": "object", "properties": {"args": {"type": "string"}}}
    assert closed_object_schema(a=Required(string()), b=string()) == {
        "type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "required": ["a"], "additionalProperties": False}
