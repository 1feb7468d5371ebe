"""The terminal side of `fba review` (`agent.workflows.review_flow`): progress, the fix flow's
preview, the model pass's stream and notes while it runs; then the report and what it could not do.

The pieces load when they are used: a static review in JSON needs neither the stream printer nor
the text report.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

from agent.console import Terminal
from agent.errors import UsageError

class ReviewConsole:
    """`ReviewUI` on a terminal. `text_report`: the report on stdout is the text one (it lists the
    files the model did not review itself, and the fix's diff may go to stdout); `verbose`: also
    say how fba tidied the model's answer."""

    def __init__(self, term: Terminal, show_progress: bool, text_report: bool, verbose: bool = False) -> None:
        self.term = term
        self.show_progress = show_progress
        self.text_report = text_report
        self.verbose = verbose
        self._printer = None
        self._batch_line: str | None = None

    def progress(self):
        if not self.show_progress:
            return nullcontext()
        from agent.console.progress import ReviewProgress

        return ReviewProgress(self.term)

    def warn(self, message: str) -> None:
        self.term.warn(message)

    def change_ui(self):
        from agent.console.diff import ChangeConsole

        return ChangeConsole(self.term, diff_to_stderr=not self.text_report)

    def model_events(self):
        from agent.console.stream import StreamPrinter

        self._printer = StreamPrinter(self.term, stream_text=False)
        return self._printer

    def batch_status(self, status) -> None:
        line = (f"batch {status.id}: {status.processing_status}, {status.succeeded + status.errored + status.lost} of "
                f"{status.processing + status.succeeded + status.errored + status.lost} requests done")
        if line != self._batch_line:
            self.term.info(line)
            self._batch_line = line

    def model_stopped(self) -> None:
        self._printer.stopped()

    def model_finished(self, outcome, outside) -> None:
        """What the model pass did not do or changed, on stderr: never silent. The files it did not
        review too unless the text report on stdout lists them itself. How fba tidied the model's
        answer (refused calls, findings moved to their quoted code) only when verbose. Then its cost."""
        term = self.term
        for skipped in () if self.text_report else (*outside, *outcome.not_reviewed):
            term.warn(f"{skipped.path}: {skipped.reason}")
        if outcome.pending_batch:
            term.warn(f"batch {outcome.pending_batch} is still running; run the same command again to collect its results")
        if outcome.dropped:
            term.warn(f"dropped {len(outcome.dropped)} model finding(s) whose quoted code is not in the file: "
                      + "; ".join(outcome.dropped))
        if outcome.invalid_calls and self.verbose:
            term.info(f"{outcome.invalid_calls} invalid report_findings call(s) were refused")
        if outcome.reanchored and self.verbose:
            term.info(f"moved {outcome.reanchored} model finding(s) to the lines their quoted code is on")
        if outcome.below_confidence:
            term.info(f"{outcome.below_confidence} model finding(s) below min-confidence not shown")
        for verdict in outcome.verdicts:
            if verdict.verdict == "reject":
                term.warn(f"the model disputes {verdict.rule} at {verdict.path}:{verdict.line}: {verdict.reason} "
                          "(the finding stays; suppress it with '# fba: ignore[...]' if you agree)")
        for path, left_out in outcome.left_out.items():
            term.info(f"{path}: not in the model's context: {'; '.join(left_out)}")
        self._printer.finish(outcome.model, outcome.usage, outcome.stop_reason)


def print_run(term: Terminal, run, output_format: str, output: Path | None) -> None:
    """The review's report (stdout or `output`), then the files not analysed and why the model
    pass failed, on stderr."""
    _emit_report(term, run.result, run.sources, output_format, output)
    if run.result.skipped:  # the console's review module is not needed otherwise (start-up cost)
        from agent.console.review import print_skipped

        print_skipped(term, run.result.skipped, failed={s.path for s in run.named_failures})
    if run.model_failure:  # degrade open (the static report is out), fail closed (exit 2)
        term.error(run.model_failure)


def _emit_report(term: Terminal, result, sources, output_format: str, output: Path | None) -> None:
    if output_format == "text" and output is None:
        from agent.console.review import print_review

        print_review(term, result, sources)
        return
    if output_format == "text":
        from agent.console.review import review_text

        text = review_text(result, sources)
    else:
        from agent.report import ROOT_RELATIVE, renderer

        base = _repository_base() if output_format in ROOT_RELATIVE else None
        text = renderer(output_format)(result, sources, base)
    if output is None:
        term.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        term.info(f"report written to {output}")


def _repository_base():
    """The git work tree's top above the current folder (else the current folder): SARIF and
    annotation paths are relative to it, as GitHub resolves them."""
    from agent.report.common import RepositoryBase

    cwd = Path.cwd().resolve()
    root = next((folder for folder in (cwd, *cwd.parents) if (folder / ".git").exists()), cwd)
    return RepositoryBase(root, cwd.relative_to(root).as_posix() if root != cwd else "")
