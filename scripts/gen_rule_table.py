"""Keep the README's rule table in sync with `fba rules --format json`.

    python scripts/gen_rule_table.py            # print the table
    python scripts/gen_rule_table.py --write    # replace the table in README.md
    python scripts/gen_rule_table.py --check    # exit 1 when README.md is out of date
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- rules:start -->", "<!-- rules:end -->"


def rules_json() -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "agent", "rules", "--format", "json"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(rules: list[dict]) -> str:
    lines = ["| code | name | category | severity | fix | what it catches |", "|---|---|---|---|---|---|"]
    lines += [f"| [{r['code']}]({r['url']}){' (preview)' if r.get('preview') else ''} | `{r['name']}` | {r['category']} | {r['severity']} "
              f"| {'[*]' if r['fixable'] else ''} | {_cell(r['title'])} |" for r in rules]
    return "\n".join(lines)


def with_table(readme: str, rendered: str) -> str:
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    return f"{head}{START}\n{rendered}\n{END}{tail}"


def main(argv: list[str]) -> int:
    rendered = table(rules_json())
    if not argv:
        print(rendered)
        return 0
    current = README.read_text(encoding="utf-8")
    updated = with_table(current, rendered)
    if argv == ["--write"]:
        README.write_text(updated, encoding="utf-8")
        return 0
    if argv == ["--check"]:
        if updated != current:
            print("README.md rule table is out of date: run python scripts/gen_rule_table.py --write", file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
