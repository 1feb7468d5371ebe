"""`fba ask`: one question to the agent, answered with the read-only file tools. No printing.

    result = ask("Which routes lack auth?", config, on_event, session_log)

The persona comes from config `agent` (or `--agent`), the model from config `model` (or `--model`)
else the persona's `model:`, through the alias table. The system prompt is persona + task prompt
(`prompts/task-ask.md`) + checklist + the repository's file list: a stable, cached prefix. Usage
is recorded per request as it happens, then the tool calls and messages; the session's status is
the loop's stop reason, or `failed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from agent.config import Config
from agent.context.files import RepoFiles
from agent.context.redact import redact
from agent.llm.client import ModelClient
from agent.llm.events import Event, EventSink, RequestDone
from agent.llm.loop import Limits, Prompt, run_tool_loop
from agent.llm.models import resolve_model
from agent.llm.tools import read_only_tools
from agent.personas import load_checklist, load_persona, render_checklist, task_prompt
from agent.store import COMPLETED, SessionLog, ended_by
from agent.types import Usage

CONTEXT_FILES = 300  # how many repository paths the cached context lists


@dataclass(frozen=True)
class AskResult:
    answer: str
    model: str
    agent: str
    usage: Usage
    stop_reason: str
    redactions: int
    tool_calls: int
    session_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer, "model": self.model, "agent": self.agent, "stop_reason": self.stop_reason,
            "usage": self.usage.to_dict(), "redactions": self.redactions, "tool_calls": self.tool_calls,
            "session_id": self.session_id,
        }


def ask(question: str, config: Config, on_event: EventSink, log: SessionLog,
        environ: Mapping[str, str] | None = None) -> AskResult:
    """Answer `question` about the repository at `config.root`."""
    persona = load_persona(config["agent"], config.root)
    model = resolve_model(config["model"] or persona.model, config["models"])
    client = ModelClient.from_config(config, environ)
    files = RepoFiles(config.root, config["deny"])
    prompt = Prompt(
        persona=persona.system_prompt,
        task=task_prompt("ask"),
        checklist="# Checklist\n\n" + render_checklist(load_checklist(persona.name)),
        context=repository_context(files),
    )
    log.start("ask", str(config.root), persona.name, model, redact(question)[0])

    def record(event: Event) -> None:
        if isinstance(event, RequestDone):
            log.usage(model, event.usage)
        on_event(event)

    try:
        result = run_tool_loop(client, model, prompt, question, read_only_tools(files),
                               Limits(max_cost=config["max-cost"]), record)
    except BaseException as exc:
        log.finish(ended_by(exc))
        raise
    for call in result.tool_calls:
        log.tool_call(call.name, call.input, call.is_error, call.output_chars)
    log.messages(result.messages)
    log.finish(COMPLETED)
    return AskResult(result.text, model, persona.name, result.usage, result.stop_reason,
                     result.redactions, len(result.tool_calls), log.session_id)


def repository_context(files: RepoFiles) -> str:
    """The repository's file list (the same view `list_files` gives), capped."""
    listing = files.list_files(".").splitlines()
    shown = listing[:CONTEXT_FILES]
    more = f"\n[... {len(listing) - CONTEXT_FILES} more; use list_files]" if len(listing) > CONTEXT_FILES else ""
    return "# Repository files\n\n" + "\n".join(shown) + more
