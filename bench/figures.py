"""Where each bench leaves its figures for bench/report.py: bench/.out/<bench>.json.

A figure is a ratio against a reference measured in the same run (never against our
own code), a size or a score. Each bench calls `reset` when it starts, then `record`
once per figure; `make bench` ends with bench/report.py, which turns the files into
bench/results.md and the table in the README.
"""

import json
import math
import os
import re
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / ".out"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _file(bench: str) -> Path:
    if not _NAME.fullmatch(bench):
        raise ValueError(f"a bench's name is lower-case letters, digits, - and _: {bench!r}")
    return OUT / f"{bench}.json"


def reset(bench: str) -> None:
    """Forget a bench's earlier figures (called at the start of a bench run)."""
    _file(bench).unlink(missing_ok=True)


def record(
    bench: str,
    figure: str,
    value: float,
    unit: str,
    *,
    reference: str,
    goal: str,
    passed: bool | None,
) -> None:
    """Append one figure to bench/.out/<bench>.json (a JSON list of objects with those keys).

    A value that could not be measured is NaN; it is stored as null (JSON has no NaN).
    """
    path = _file(bench)
    figures = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    number = float(value)
    figures.append(
        {
            "bench": bench,
            "figure": figure,
            "value": number if math.isfinite(number) else None,
            "unit": unit,
            "reference": reference,
            "goal": goal,
            "passed": passed,
        }
    )
    OUT.mkdir(exist_ok=True)
    # Written whole then renamed: a bench stopped half-way leaves the earlier figures.
    handle, scratch = tempfile.mkstemp(dir=OUT, prefix=f".{bench}-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(figures, out, ensure_ascii=False, indent=1)
        out.write("\n")
    os.replace(scratch, path)
