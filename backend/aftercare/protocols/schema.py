"""The shape of procedure files (`schedules/*.yaml`) and of the shared rules file."""

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aftercare.i18n import SUPPORTED_LANGUAGES

ItemKind = Literal[
    "rest",
    "medication",
    "hygiene",
    "activity",
    "wound-care",
    "follow-up",
    "education",
    "check-in",
    "milestone",
]
ITEM_KINDS: tuple[str, ...] = ItemKind.__args__  # type: ignore[attr-defined]
Severity = Literal["amber", "red"]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=60)]
Text = dict[str, Annotated[str, Field(min_length=1)]]

# The check-in answers a rule may look at, and what each can hold (clinical.md).
NUMBER_FIELDS: dict[str, tuple[float, float]] = {"pain": (0, 10), "temperature_c": (34.0, 43.0)}
CHOICE_FIELDS: dict[str, tuple[Any, ...]] = {
    "bleeding": ("none", "spotting", "light", "moderate", "heavy"),
    "discharge": ("none", "normal", "unusual", "foul"),
    "urination": ("normal", "painful", "unable"),
    "allergy": ("none", "itching", "rash", "breathing"),
    "nausea": (True, False),
    "wants_contact": (True, False),
}
TEXT_PLACEHOLDERS = frozenset({"value", "previous", "clinic_phone", "emergency_number"})

_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_clock(raw: Any) -> time:
    """'HH:MM' (24-hour) to a time; YAML turns some unquoted times into numbers."""
    if isinstance(raw, time):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f'a time is written in quotes as "HH:MM", like "09:00" (got {raw!r})')
    match = _TIME.match(raw.strip())
    if not match:
        raise ValueError(f'"{raw}" is not a time; write "HH:MM", like "09:00"')
    return time(int(match.group(1)), int(match.group(2)))


class EveryOtherDay(Strict):
    from_: int = Field(alias="from", ge=1)
    to: int = Field(ge=1)
    every: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "EveryOtherDay":
        if self.to < self.from_:
            raise ValueError(f"'to' ({self.to}) comes before 'from' ({self.from_})")
        return self

    def days(self) -> list[int]:
        return list(range(self.from_, self.to + 1, self.every))


def _day_segment(raw: Any) -> list[int]:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a day")
    if isinstance(raw, int):
        return [raw]
    if isinstance(raw, str):
        match = _RANGE.match(raw)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            if last < first:
                raise ValueError(f"the range {raw} ends before it starts")
            return list(range(first, last + 1))
        if raw.strip().isdigit():
            return [int(raw)]
    if isinstance(raw, dict):
        return EveryOtherDay.model_validate(raw).days()
    raise ValueError(
        f"{raw!r} is not a day: write 3, 2-28, all, a list, or {{from: 9, to: 13, every: 2}}"
    )


def parse_days(raw: Any) -> tuple[int, ...] | Literal["all"]:
    """A `days:` value to the sorted days it names, or 'all'."""
    if raw == "all":
        return "all"
    segments = raw if isinstance(raw, list) else [raw]
    if not segments:
        raise ValueError("the list of days is empty")
    seen: set[int] = set()
    for segment in segments:
        for day in _day_segment(segment):
            if day in seen:
                raise ValueError(f"Day {day} is listed twice")
            seen.add(day)
    return tuple(sorted(seen))


TimeSpec = tuple[time, ...] | Literal["all-day", "as-needed"]


def parse_times(raw: Any) -> TimeSpec:
    if raw in ("all-day", "as-needed"):
        return raw  # type: ignore[no-any-return]
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise ValueError("the list of times is empty")
    times = [parse_clock(value) for value in values]
    if len(set(times)) != len(times):
        raise ValueError("a time is listed twice")
    return tuple(sorted(times))


# Shorter than this, reminders would crowd into a few hours of the day.
MINIMUM_AWAKE_MINUTES = 4 * 60


def wake_window_problem(wake: time, sleep: time) -> str | None:
    """Why a wake window is not usable, or None. Windows across midnight are not supported yet."""
    if (sleep.hour * 60 + sleep.minute) - (wake.hour * 60 + wake.minute) < MINIMUM_AWAKE_MINUTES:
        return "sleep_time must be at least 4 hours after wake_time, on the same day"
    return None


class Defaults(Strict):
    wake_time: time = time(8, 0)
    sleep_time: time = time(22, 0)

    _clock = field_validator("wake_time", "sleep_time", mode="before")(parse_clock)

    @model_validator(mode="after")
    def _window(self) -> "Defaults":
        problem = wake_window_problem(self.wake_time, self.sleep_time)
        if problem:
            raise ValueError(problem)
        return self


class ItemSpec(Strict):
    id: Slug
    kind: ItemKind
    days: tuple[int, ...] | Literal["all"]
    time: TimeSpec
    reminder: bool = False
    # Whether the patient ticks it off by hand. Reading matter, milestones and the
    # check-in (done by checking in) never are; a clinic turns it off for advice
    # such as "things to avoid", which has nothing to be done.
    tick: bool | None = None
    title: Text
    detail: Text | None = None

    _days = field_validator("days", mode="before")(parse_days)
    _time = field_validator("time", mode="before")(parse_times)

    @model_validator(mode="after")
    def _reminder_needs_time(self) -> "ItemSpec":
        if self.reminder and isinstance(self.time, str):
            raise ValueError(f"an item with reminder: true needs a time, not {self.time}")
        return self


class Condition(Strict):
    """When a rule fires: a range, a choice, a rise since last time, or silence."""

    field: str | None = None
    at_least: float | None = None
    below: float | None = None
    in_: tuple[Any, ...] | None = Field(default=None, alias="in")
    rise_of_at_least: float | None = Field(default=None, gt=0)
    from_day: int | None = Field(default=None, ge=1)
    silent_hours: int | None = Field(default=None, gt=0)

    @property
    def kind(self) -> Literal["range", "choice", "trend", "silence"]:
        if self.silent_hours is not None:
            return "silence"
        if self.rise_of_at_least is not None:
            return "trend"
        if self.in_ is not None:
            return "choice"
        return "range"

    @model_validator(mode="after")
    def _one_shape(self) -> "Condition":
        kind = self.kind
        if kind == "silence":
            extra = [name for name in ("field", "at_least", "below", "in_") if getattr(self, name)]
            if extra or self.rise_of_at_least is not None:
                raise ValueError("silent_hours stands alone")
            return self
        if self.field is None:
            raise ValueError("'field' is missing")
        if kind == "choice":
            allowed = CHOICE_FIELDS.get(self.field)
            if allowed is None:
                raise ValueError(
                    f"'{self.field}' is not a choice field ({', '.join(CHOICE_FIELDS)})"
                )
            wrong = [value for value in self.in_ or () if value not in allowed]
            if wrong or not self.in_:
                words = ", ".join(map(_yaml_word, allowed))
                raise ValueError(f"{self.field} can be {words}, not {wrong or '[]'}")
            if self.at_least is not None or self.below is not None:
                raise ValueError("'in' cannot be mixed with at_least/below")
            return self
        if self.field not in NUMBER_FIELDS:
            raise ValueError(f"'{self.field}' is not a number field ({', '.join(NUMBER_FIELDS)})")
        if kind == "trend":
            if self.at_least is not None or self.below is not None:
                raise ValueError("rise_of_at_least cannot be mixed with at_least/below")
            return self
        if self.at_least is None and self.below is None:
            raise ValueError("give at_least, below, in, rise_of_at_least or silent_hours")
        if self.at_least is not None and self.below is not None and self.below <= self.at_least:
            raise ValueError("'below' must be greater than 'at_least'")
        return self


def _yaml_word(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class RuleSpec(Strict):
    code: Slug
    severity: Severity
    when: Condition
    message: Text
    advice: Text
    enabled: bool = True


class RuleChange(Strict):
    """A procedure's change to a shared rule, or a whole new rule."""

    code: Slug
    severity: Severity | None = None
    when: Condition | None = None
    message: Text | None = None
    advice: Text | None = None
    enabled: bool | None = None


class ProcedureFile(Strict):
    id: Slug
    version: int = Field(ge=1)
    languages: tuple[str, ...] = Field(min_length=1)
    name: Text
    days: int = Field(ge=1, le=365)
    # What is normal while recovering; the Warning signs page shows it beside the
    # `warning-signs` item (what is not normal) and the clinic's numbers.
    normal: Text | None = None
    defaults: Defaults = Defaults()
    items: tuple[ItemSpec, ...] = Field(min_length=1)
    rules: tuple[RuleChange, ...] = ()

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_languages(value)


class RulesFile(Strict):
    version: int = Field(ge=1)
    languages: tuple[str, ...] = Field(min_length=1)
    reassurance: Text
    rules: tuple[RuleSpec, ...] = Field(min_length=1)

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_languages(value)


def _check_languages(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [lang for lang in value if lang not in SUPPORTED_LANGUAGES]
    if unknown:
        raise ValueError(
            f"unknown language {', '.join(unknown)}; supported: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    if len(set(value)) != len(value):
        raise ValueError("a language is listed twice")
    return value
