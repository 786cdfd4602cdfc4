"""The flag rule engine: plain answers in, every reason that fired out.

Pure: no database, no clock. The rules come from the procedure file, so the
engine knows no threshold and no text of its own.
"""

import string
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


def rule_label(rule: RuleSpec | None, code: str, language: str) -> str:
    """A rule as a report names it, in the reader's language: its message with the
    answer replaced by the rule's bounds ("Temperature ≥ 38.0 °C", "Pain ≥ 7, < 9 out
    of 10", "No check-in for ≥ 48 hours"); a choice's message says its answer already.
    A rule no longer in the file keeps its code."""
    if rule is None:
        return code
    when = rule.when
    bounds = "…"
    if when.silent_hours is not None:
        bounds = f"≥ {when.silent_hours}"
    elif when.at_least is not None or when.below is not None:
        parts = [f"≥ {_bound(when.at_least, when.field)}"] if when.at_least is not None else []
        parts += [f"< {_bound(when.below, when.field)}"] if when.below is not None else []
        bounds = ", ".join(parts)
    return fill(in_language(rule.message, language), value=bounds, previous="…")


def _bound(value: float, field: str | None) -> str:
    """A bound as the answers show it: a temperature with its tenth (38.0), a whole
    number without (pain 7)."""
    if field != "temperature_c" and value == int(value):
        return str(int(value))
    return _shown(float(value))


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
    for template in _worst_advice(verdict, rules, language):
        text = fill(template, **contact)
        if text not in texts:
            texts.append(text)
    return "\n\n".join(texts)


def _worst_advice(verdict: Verdict, rules: Mapping[str, RuleSpec], language: str) -> list[str]:
    """The advice templates of the worst reasons; those sending to the emergency number first.

    Next to "call the clinic" for a fever, "call the emergency number now" for
    very heavy bleeding is the one thing to do first.
    """
    templates = [
        in_language(rule.advice, language)
        for evidence in verdict.reasons
        if (rule := rules.get(evidence.code)) is not None and evidence.severity == verdict.severity
    ]
    return sorted(templates, key=lambda text: advice_calls(text)[:1] != ("emergency",))


# The tap-to-call buttons: which placeholder of an advice text names which number.
CALLS: dict[str, str] = {"clinic_phone": "clinic", "emergency_number": "emergency"}


def advice_calls(template: str) -> tuple[str, ...]:
    """The numbers an advice text (not yet filled) names, in the order it first names them."""
    calls: list[str] = []
    for _literal, name, _spec, _conversion in string.Formatter().parse(template):
        call = CALLS.get(name or "")
        if call is not None and call not in calls:
            calls.append(call)
    return tuple(calls)


def calls_for(verdict: Verdict, rules: Mapping[str, RuleSpec], language: str) -> tuple[str, ...]:
    """The tap-to-call buttons of the answer, in order: "clinic" and/or "emergency".

    In the order the advice read by the patient (that of the worst severity,
    see `advice_for`) first names the numbers; red always offers both, a
    missing one at the end.
    """
    if verdict.severity == "none":
        return ()
    calls: list[str] = []
    for template in _worst_advice(verdict, rules, language):
        calls += [c for c in advice_calls(template) if c not in calls]
    if verdict.severity == "red":
        calls += [c for c in ("clinic", "emergency") if c not in calls]
    return tuple(calls)
