"""One long-lived node process running `frontend/static/js/triage.js`, a JSON line per call."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from aftercare.settings import FRONTEND_DIR

MODULE = FRONTEND_DIR / "static" / "js" / "triage.js"
NODE = shutil.which("node") or "/usr/bin/node"

# Documents are sent once and then named by their version: each call stays small.
DRIVER = """
import { createInterface } from "node:readline";
import { judge, recoveryDay } from %s;

const docs = new Map();
for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    const q = JSON.parse(line);
    if (q.doc) docs.set(q.doc.version, q.doc);
    const doc = docs.get(q.version);
    if (q.op === "day") answer = q.when ? recoveryDay(doc, new Date(q.when)) : recoveryDay(doc);
    else answer = judge(doc, q.answers, q.day, q.previous);
  } catch (error) {
    answer = { error: String(error && error.stack) };
  }
  process.stdout.write(JSON.stringify(answer) + "\\n");
}
"""


class TriageNode:
    def __init__(self, workdir: Path) -> None:
        driver = workdir / "triage-driver.mjs"
        driver.write_text(DRIVER % json.dumps(MODULE.as_uri()), encoding="utf-8")
        self.process = subprocess.Popen(
            [NODE, str(driver)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.sent: set[str] = set()

    def _ask(self, doc: dict[str, Any], question: dict[str, Any]) -> Any:
        question = {**question, "version": doc["version"]}
        if doc["version"] not in self.sent:
            question["doc"] = doc
            self.sent.add(doc["version"])
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(question) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"node stopped: {stderr}")
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def judge(
        self,
        doc: dict[str, Any],
        answers: dict[str, Any],
        day: int,
        previous: dict[str, Any] | None,
    ) -> dict[str, Any]:
        answer: dict[str, Any] = self._ask(
            doc, {"op": "judge", "answers": answers, "day": day, "previous": previous}
        )
        return answer

    def recovery_day(self, doc: dict[str, Any], when: str | None = None) -> int:
        day: int = self._ask(doc, {"op": "day", "when": when})
        return day

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
