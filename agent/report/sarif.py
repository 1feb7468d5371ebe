"""SARIF 2.1.0 output, shaped for GitHub code scanning (`github/codeql-action/upload-sarif`).

GitHub reads the rule's `shortDescription`/`fullDescription`/`help`, `properties.tags` and
`properties.security-severity`, each result's `level`, location and `partialFingerprints`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any, Mapping
from urllib.parse import quote

from agent import __version__
from agent.report.common import SECURITY_CATEGORIES, RepositoryBase, RuleInfo, line_text, rule_catalog, rule_help_uri
from agent.types import Finding, ReviewResult, Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/fastapi-backend-agent/"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "fbaFinding/v1"

LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub maps security-severity to critical (>= 9.0), high (7.0-8.9), medium (4.0-6.9), low (< 4.0).
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}


def render_sarif(result: ReviewResult, sources: Mapping[str, str] | None = None,
                 base: RepositoryBase | None = None) -> str:
    """The SARIF log of a review. `sources` (path -> text) makes fingerprints follow the code line.

    With `base`, artifact URIs are relative to the repository root (what GitHub code scanning
    resolves, wherever fba ran) and `originalUriBaseIds` says where that root is.
    """
    if base is not None:
        result, sources = base.rebase(result, sources)
    catalog = rule_catalog(result.findings)
    codes = sorted(catalog)
    index = {code: number for number, code in enumerate(codes)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "fba",
            "fullName": "fba (fastapi-backend-agent)",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": INFORMATION_URI,
            "rules": [_rule(catalog[code]) for code in codes],
        }},
        "invocations": [_invocation(result)],
        "columnKind": "unicodeCodePoints",
        "results": _results(result.findings, index, sources),
    }
    if base is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": base.root.as_uri().rstrip("/") + "/"}}
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2) + "\n"


def _rule(rule: RuleInfo) -> dict[str, Any]:
    tags = [rule.category]
    properties: dict[str, Any] = {"tags": tags, "precision": "high" if rule.static else "medium"}
    if rule.category in SECURITY_CATEGORIES:
        tags.append("security")
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    doc = rule.doc or rule.title
    descriptor: dict[str, Any] = {
        "id": rule.code,
        "name": _pascal(rule.name),
        "shortDescription": {"text": rule.title or rule.name},
        "fullDescription": {"text": rule.summary},
        "help": {"text": _plain(doc), "markdown": doc},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": properties,
    }
    if rule.doc_path:  # model rules have no reference page
        descriptor["helpUri"] = rule_help_uri(rule.code)
    return descriptor


def _pascal(name: str) -> str:
    """SARIF recommends rule names that are identifiers: `unscoped-object-access` -> `UnscopedObjectAccess`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part) or "Rule"


def _plain(markdown: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"\1", markdown).replace("```python\n", "").replace("```", "")


def _invocation(result: ReviewResult) -> dict[str, Any]:
    """Files not fully analysed and files the model did not review, as tool notifications."""
    notes = [_notification(s.reason, s.path) for s in result.skipped]
    notes += [_notification(s.reason, s.path, "fba-not-reviewed") for s in result.not_reviewed]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation


def _notification(text: str, path: str, descriptor: str | None = None) -> dict[str, Any]:
    note: dict[str, Any] = {
        "level": "warning", "message": {"text": text},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(path), "uriBaseId": SRCROOT}}}]}
    if descriptor:
        note["descriptor"] = {"id": descriptor}
    return note


def _results(findings, index: Mapping[str, int], sources: Mapping[str, str] | None) -> list[dict[str, Any]]:
    seen: Counter[str] = Counter()
    results = []
    for finding in findings:
        digest = fingerprint(finding, line_text(sources, finding.path, finding.line))
        seen[digest] += 1  # identical lines in one file still get distinct fingerprints
        results.append(_result(finding, index[finding.rule], f"{digest}:{seen[digest]}"))
    return results


def _result(finding: Finding, rule_index: int, fingerprint_value: str) -> dict[str, Any]:
    region = {
        "startLine": finding.line,
        "endLine": max(finding.end_line or finding.line, finding.line),
        "startColumn": max(finding.column, 1),
    }
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": quote(finding.path), "uriBaseId": SRCROOT},
            "region": region,
        }}],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint_value},
        "properties": {"category": finding.category, "severity": finding.severity.value,
                       "source": finding.source, "confidence": round(finding.confidence, 2)},
    }
    if finding.fix is not None:
        result["properties"]["fix"] = finding.fix.description
    return result


def fingerprint(finding: Finding, line: str | None) -> str:
    """Stable across runs and line moves: rule + path + the reported line with whitespace collapsed.

    Without the source at hand the message stands in for the line text.
    """
    anchor = " ".join(line.split()) if line is not None else finding.message
    return hashlib.sha256(f"{finding.rule}\0{finding.path}\0{anchor}".encode()).hexdigest()[:32]
