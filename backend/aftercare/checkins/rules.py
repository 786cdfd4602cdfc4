"""The flag rule engine: plain answers in, every reason that fired out.

Pure: no database, no clock. The rules come from the procedure file, so the
engine knows no threshold and no text of its own.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aftercare.protocols.schema import RuleSpec

Severity = Literal["none", "amber", "red"]
RANK: dict[str, int] = {"none": 0, "amber": 1, "red": 2}


@dataclass(frozen=True)
class Answers:
    pain: int
    temperature_c: float | None
    bleeding: str
    discharge: str
    urination: str
    allergy: str
    nausea: bool
    wants_contact: bool

    def get(self, field: str) -> Any:
        return getattr(self, field)


@dataclass(frozen=True)
class Evidence:
    """Why a rule fired: its code and the answers that made it fire."""

    code: str
    severity: Literal["amber", "red"]
    value: Any = None
    previous: Any = None


@dataclass(frozen=True)
class Verdict:
    severity: Severity
    reasons: tuple[Evidence, ...]


def _fires(rule: RuleSpec, answers: Answers, day: int, previous: Answers | None) -> Evidence | None:
    when = rule.when
    kind = when.kind
    if kind == "silence" or when.field is None:
        return None  # raised by the scheduler, never by a check-in
    value = answers.get(when.field)
    if kind == "choice":
        return Evidence(rule.code, rule.severity, value) if value in (when.in_ or ()) else None
    if value is None:
        return None  # an optional answer left blank never fires
    if kind == "trend":
        if previous is None or day < (when.from_day or 1):
            return None
        before = previous.get(when.field)
        if before is None or value - before < (when.rise_of_at_least or 0):
            return None
        return Evidence(rule.code, rule.severity, value, before)
    if when.at_least is not None and value < when.at_least:
        return None
    if when.below is not None and value >= when.below:
        return None
    return Evidence(rule.code, rule.severity, value)


def evaluate(
    rules: Sequence[RuleSpec], answers: Answers, day: int, previous: Answers | None
) -> Verdict:
    """Every rule that fires, worst first; the check-in's severity is the worst of them."""
    reasons = [
        evidence
        for rule in rules
        if rule.enabled and (evidence := _fires(rule, answers, day, previous)) is not None
    ]
    reasons.sort(key=lambda evidence: -RANK[evidence.severity])
    worst: Severity = reasons[0].severity if reasons else "none"
    return Verdict(worst, tuple(reasons))


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


class _Blanks(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(text: str, **values: Any) -> str:
    """Fill the placeholders a clinic wrote; an unknown one is left as written."""
    return text.format_map(_Blanks({key: _shown(value) for key, value in values.items()}))


def in_language(texts: Mapping[str, str], language: str) -> str:
    return texts.get(language) or texts.get("en") or next(iter(texts.values()))


def reason_message(rule: RuleSpec | None, evidence: Evidence, language: str) -> str:
    if rule is None:
        return evidence.code
    return fill(
        in_language(rule.message, language), value=evidence.value, previous=evidence.previous
    )


def advice_for(
    verdict: Verdict,
    rules: Mapping[str, RuleSpec],
    reassurance: Mapping[str, str],
    language: str,
    clinic_phone: str,
    emergency_number: str,
) -> str:
    """What the patient reads: the advice of the reasons at the worst severity.

    Lower-severity advice is left out: next to "call the clinic now" it would
    only blur the one thing to do.
    """
    contact = {"clinic_phone": clinic_phone, "emergency_number": emergency_number}
    if verdict.severity == "none":
        return fill(in_language(reassurance, language), **contact)
    texts: list[str] = []
    for evidence in verdict.reasons:
        rule = rules.get(evidence.code)
        if rule is None or evidence.severity != verdict.severity:
            continue
        text = fill(in_language(rule.advice, language), **contact)
        if text not in texts:
            texts.append(text)
    return "\n\n".join(texts)
