"""Where the cold review's time goes, in one process: phases, each rule, and the top functions.

    .venv/bin/python bench/profile_static.py [--top 30] [PATH]

Reviews PATH (default: the open-webui corpus of `static_speed.py`, downloaded on first use)
without cache and without workers, timing parsing, the shared tree walk, fact extraction, the
project index and every rule separately, then profiles the rules pass with cProfile and prints
the functions with the most own time. Use it before and after an optimisation; the whole-process
figures and ratios come from `static_speed.py`.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import time
from collections import defaultdict
from pathlib import Path

from static_speed import corpus

from agent.analysis.facts import extract_facts
from agent.analysis.index import ProjectIndex
from agent.analysis.rules.base import FileContext
from agent.analysis.discovery import collect_files
from agent.analysis.reading import read_sources
from agent.analysis.runner import ReviewOptions, source_files
from agent.analysis.selection import enabled_rules
from agent.analysis.source import parse_python
from agent.analysis.walk import TreeWalk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, help="project folder (default: the bench corpus)")
    parser.add_argument("--top", type=int, default=30, help="functions to list from the profile")
    args = parser.parse_args()
    root = (args.path or corpus()).resolve()
    os.chdir(root)
    gc.disable()  # as in a review
    files = source_files(*read_sources([f.resolve() for f in collect_files([root], root)], root)[:2])
    phases: dict[str, float] = {}

    def timed(name, work):
        start = time.perf_counter()
        result = work()
        phases[name] = time.perf_counter() - start
        return result

    trees = timed("parse", lambda: [parse_python(f.text, f.path).tree for f in files])
    walks = timed("walk", lambda: [TreeWalk(tree) for tree in trees])
    facts = timed("facts", lambda: [extract_facts(t, f.path, f.module, w) for f, t, w in zip(files, trees, walks)])
    index = timed("index", lambda: ProjectIndex.build(facts))
    rules = enabled_rules(ReviewOptions())
    per_rule: dict[str, float] = defaultdict(float)
    profile = cProfile.Profile()
    for file, tree, walk in zip(files, trees, walks):
        context = FileContext(file.path, file.text, tree, index, walk)
        for rule in rules:
            start = time.perf_counter()
            list(rule.check(context))
            per_rule[f"{rule.code} {rule.name}"] += time.perf_counter() - start
    phases["rules"] = sum(per_rule.values())
    print(f"{len(files)} files; " + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in phases.items()))
    for name, seconds in sorted(per_rule.items(), key=lambda item: -item[1]):
        print(f"  {seconds:7.3f} s  {name}")
    profile.enable()
    for file, tree, walk in zip(files, trees, walks):
        context = FileContext(file.path, file.text, tree, index, walk)
        for rule in rules:
            list(rule.check(context))
    profile.disable()
    print("\nrules pass under cProfile (own time):")
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
