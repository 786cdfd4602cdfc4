"""The words of the queue's cards, translated once a page rather than once a card.

A page of 50 cards says "Raised 12 min ago" or "Day 3 of 28" a few hundred times;
through the template's gettext each costs a lookup and a Markup escape, which was a
sixth of the page. Here each sentence is looked up once per language and filled in
with plain string formatting; the page escapes the result once, as any text.
"""

from dataclasses import dataclass, field
from functools import lru_cache

from aftercare.i18n import _, gettext_for
from aftercare.reminders.texts import ngettext


@dataclass(frozen=True)
class CardWords:
    language: str
    sentences: dict[str, str] = field(default_factory=dict, repr=False)

    def say(self, message: str, **values: object) -> str:
        return self.sentences[message] % values if values else self.sentences[message]

    def age(self, minutes: int) -> str:
        if minutes < 1:
            return self.say(_UNDER_A_MINUTE)
        if minutes < 60:
            return self.say(_MINUTES, minutes=minutes)
        if minutes < 1440:
            return self.say(_HOURS, hours=minutes // 60, minutes=minutes % 60)
        return self.say(_DAYS, days=minutes // 1440, hours=(minutes % 1440) // 60)

    def day(self, day: int | None, plan_days: int) -> str:
        if day is None:
            return self.say(_BEFORE_SURGERY)
        if day <= plan_days:
            return self.say(_DAY_OF, day=day, days=plan_days)
        return self.say(_DAY_AFTER, day=day, days=plan_days)

    def waiting(self, minutes: int, late: bool, target: int) -> str:
        if late:
            return self.say(_LATE, age=self.age(minutes), target=target)
        return self.say(_WAITING, age=self.age(minutes))

    def raised(self, minutes: int) -> str:
        return self.say(_RAISED, age=self.age(minutes))

    def flag_count(self, count: int) -> str:
        singular, plural = _FLAGS
        return gettext_for(self.language).ngettext(singular, plural, count) % {"num": count}

    def acknowledge(self, count: int) -> str:
        return self.say(_ACKNOWLEDGE_ALL if count > 1 else _ACKNOWLEDGE)

    def resolve(self, count: int) -> str:
        return self.say(_RESOLVE_ALL if count > 1 else _RESOLVE)


_UNDER_A_MINUTE = _("under 1 min")
_MINUTES = _("%(minutes)s min")
_HOURS = _("%(hours)s h %(minutes)s min")
_DAYS = _("%(days)s d %(hours)s h")
_BEFORE_SURGERY = _("Before surgery")
_DAY_OF = _("Day %(day)s of %(days)s")
_DAY_AFTER = _("Day %(day)s, after the plan's %(days)s days")
_LATE = _("Waiting %(age)s, past the %(target)s min target")
_WAITING = _("Waiting %(age)s, not acknowledged yet")
_RAISED = _("Raised %(age)s ago")
_FLAGS = ngettext("%(num)s flag", "%(num)s flags", 2)
_ACKNOWLEDGE = _("Acknowledge")
_ACKNOWLEDGE_ALL = _("Acknowledge all")
_RESOLVE = _("Resolve")
_RESOLVE_ALL = _("Resolve all")
_SENTENCES = (
    _UNDER_A_MINUTE, _MINUTES, _HOURS, _DAYS, _BEFORE_SURGERY, _DAY_OF, _DAY_AFTER, _LATE,
    _WAITING, _RAISED, _ACKNOWLEDGE, _ACKNOWLEDGE_ALL, _RESOLVE, _RESOLVE_ALL,
)  # fmt: skip


@lru_cache(maxsize=8)
def card_words(language: str) -> CardWords:
    translate = gettext_for(language).gettext
    return CardWords(language, {message: translate(message) for message in _SENTENCES})
