"""The bad-input corpus (tests/badinputs.py) through the API with the shipped pipeline.

bad_inputs_handled: "handled/total": cases that gave their documented outcome (the expected
    TalkingHeadError with a one-line message, or a whole mp4 of the right length) and left no
    partial output behind. With --quick, the refused cases and one accepted case per kind run;
    the full run takes every case.
bad_inputs_cases: how many cases ran.

``python -m benchmarks.bench_bad_inputs --table`` prints the markdown table of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def _select(cases, quick: bool):
    if not quick:
        return cases
    first_ok, chosen = set(), []
    for case in cases:
        if case.expect != "ok":
            chosen.append(case)
        elif case.kind not in first_ok:
            first_ok.add(case.kind)
            chosen.append(case)
    return chosen


def _run_all(quick: bool):
    from badinputs import Outcome, build_corpus, run_api

    from talkinghead.pipeline import TalkingHead

    th = TalkingHead()
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = _select(build_corpus(Path(tmp) / "corpus"), quick)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # silent audio and several faces warn, as documented
            for case in cases:
                try:
                    outcome = run_api(th, case, Path(tmp) / "runs")
                except Exception as e:  # a bug: counted as not handled, and named in the table
                    outcome = Outcome(case, "api", f"crash: {type(e).__name__}", str(e))
                outcome.message = outcome.message.replace(f"{tmp}/", "")  # paths relative to the corpus
                outcomes.append(outcome)
    return outcomes


def run(quick: bool) -> dict:
    outcomes = _run_all(quick)
    handled = sum(o.handled for o in outcomes)
    return {"bad_inputs_handled": f"{handled}/{len(outcomes)}", "bad_inputs_cases": len(outcomes)}


def table(outcomes) -> str:
    """Markdown: case, what it is, expected, outcome (error type + message, or mp4 length)."""
    rows = ["| case | input | expected | outcome | handled |", "|---|---|---|---|---|"]
    for o in outcomes:
        if o.status == "ok":
            got = f"mp4, {o.duration_s:.2f} s"
        else:
            message = o.message.replace("|", "\\|")
            message = message if len(message) <= 110 else message[:107] + "..."
            got = f"`{o.status}`: {message}"
        rows.append(f"| {o.case.name} | {o.case.note} | {o.case.expect} | {got} | "
                    f"{'yes' if o.handled else '**no**'} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the markdown table of every case")
    args = parser.parse_args(argv)
    outcomes = _run_all(args.quick)
    if args.table:
        print(table(outcomes))
    handled = sum(o.handled for o in outcomes)
    print(f"\nbad_inputs_handled: {handled}/{len(outcomes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
