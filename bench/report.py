"""Turn the benches' figures (bench/.out/*.json) into bench/results.md and the README's table.

    .venv/bin/python bench/report.py

results.md is the record: the machine (CPU, cores, RAM, OS, Python), the date, the
commit measured ("+dirty" when the tree holds changes beyond what this script writes)
and one table of every figure. The same table replaces what lies between the README's
markers `<!-- bench-results:start -->` and `<!-- bench-results:end -->`.
"""

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / ".out"
RESULTS = HERE / "results.md"
README = ROOT / "README.md"
START, END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"
# The order of `make bench`; a bench not listed here comes after these, by name.
ORDER = ("checkins", "dispatch", "budgets", "console", "guards")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def operating_system() -> str:
    try:
        release = platform.freedesktop_os_release()["PRETTY_NAME"]
    except (OSError, KeyError):
        release = platform.system()
    return f"{release}, kernel {platform.release()}"


def commit() -> str:
    """The short hash of HEAD, "+dirty" when files differ from it (this script's own output,
    results.md and the README's table, does not count: it is what a run leaves)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        changed = {line[3:] for line in git("status", "--porcelain").splitlines()}
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    ours = {str(RESULTS.relative_to(ROOT)), str(README.relative_to(ROOT))}
    return f"{head}+dirty" if changed - ours else head


def load() -> list[dict[str, Any]]:
    files = sorted(OUT.glob("*.json"))
    rank = {name: n for n, name in enumerate(ORDER)}
    files.sort(key=lambda path: (rank.get(path.stem, len(ORDER)), path.stem))
    figures: list[dict[str, Any]] = []
    for path in files:
        figures += json.loads(path.read_text(encoding="utf-8"))
    return figures


def shown(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "score":
        return f"{value:.0f}"
    if unit == "KB":
        return f"{value:.1f} KB"
    if unit == "/s":
        return f"{value:,.0f}/s"
    return f"{value:g} {unit}"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(figures: list[dict[str, Any]]) -> str:
    lines = [
        "| bench | figure | value | reference | goal | result |",
        "|---|---|---:|---|---|---|",
    ]
    for figure in figures:
        passed = figure["passed"]
        result = "—" if passed is None else ("pass" if passed else "**FAIL**")
        row = [
            figure["bench"],
            figure["figure"],
            shown(figure["value"], figure["unit"]),
            figure["reference"],
            figure["goal"] or "—",
            result,
        ]
        lines.append("| " + " | ".join(cell(str(part)) for part in row) + " |")
    return "\n".join(lines)


def missing(figures: list[dict[str, Any]]) -> list[str]:
    ran = {figure["bench"] for figure in figures}
    return [name for name in ORDER if name not in ran]


def results_page(figures: list[dict[str, Any]], when: str, measured: str) -> str:
    cores = os.cpu_count() or 0
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/report.py); the README shows the same table.",
        "",
        f"- Machine: {cpu_model()}, {cores} cores, {memory()} RAM",
        f"- OS: {operating_system()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- Date: {when}",
        f"- Commit: {measured}",
    ]
    if absent := missing(figures):
        lines.append(f"- Not run: {', '.join(absent)}")
    lines += ["", table(figures), ""]
    return "\n".join(lines)


def readme_section(text: str, figures: list[dict[str, Any]], when: str, measured: str) -> str:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        sys.exit(f"README.md has no {START} … {END} section to fill")
    summary = f"Last run {when}, commit {measured}, on {cpu_model()} ({os.cpu_count()} cores):"
    block = f"{START}\n{summary}\n\n{table(figures)}\n{END}"
    return text[:start] + block + text[end + len(END) :]


def main() -> None:
    figures = load()
    if not figures:
        sys.exit(f"no figures in {OUT}: run the benches first (make bench)")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    measured = commit()
    readme = readme_section(README.read_text(encoding="utf-8"), figures, when, measured)
    RESULTS.write_text(results_page(figures, when, measured), encoding="utf-8")
    README.write_text(readme, encoding="utf-8")
    print(f"{len(figures)} figures -> {RESULTS.relative_to(ROOT)} and the README's table")


if __name__ == "__main__":
    main()
