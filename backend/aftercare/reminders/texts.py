"""Every word a reminder carries outside the app: neutral, whatever the plan item is.

A lock screen, an inbox or a shared calendar may be seen by anyone; the
detail is only ever shown inside the app.
"""

from functools import lru_cache

from aftercare.i18n import _, gettext_for
from aftercare.reminders.channels import Message

_BODIES = {
    "check-in": _("Time for your daily check-in"),
    "test": _("This is a test notification. Your reminders work."),
    "message": _("You have a new message"),
    # The day before the follow-up visit: never what the visit is for, nor where.
    "follow-up": _("You have an appointment tomorrow"),
}
_DEFAULT_BODY = _("You have a new reminder")
_NURSE_ALERT = _("A red flag is waiting for acknowledgement")
_NURSE_ALERT_TITLE = _("Red flag waiting %(minutes)s min")


def ngettext(singular: str, plural: str, count: int) -> tuple[str, str]:
    """Mark a singular and plural pair for extraction; translated where it is shown."""
    return singular, plural


# Several of one patient's reminders due at the same minute reach the phone as one.
_MANY = {
    "plan-item": ngettext("You have %(count)d reminder", "You have %(count)d reminders", 2),
    "message": ngettext("You have %(count)d new message", "You have %(count)d new messages", 2),
}


@lru_cache(maxsize=1024)
def _body(purpose: str, item_kind: str | None, language: str, count: int) -> str:
    catalog = gettext_for(language)
    key = item_kind if purpose == "plan-item" and item_kind == "check-in" else purpose
    if count > 1 and purpose in _MANY:
        singular, plural = _MANY[purpose]
        return catalog.ngettext(singular, plural, count) % {"count": count}
    return catalog.gettext(_BODIES.get(key, _DEFAULT_BODY))


def patient_message(
    purpose: str,
    item_kind: str | None,
    language: str,
    app_name: str,
    base_url: str,
    tag: str,
    count: int = 1,
) -> Message:
    body = _body(purpose, item_kind, language, count)
    # A new message opens the thread; everything else opens Today. Both paths are neutral.
    page = "/messages" if purpose == "message" else "/today"
    return Message(title=app_name, body=body, url=f"{base_url.rstrip('/')}{page}", tag=tag)


def nurse_alert(base_url: str, tag: str, language: str, waiting_minutes: int) -> Message:
    """An escalation alert in the nurse's language: its title (the e-mail's subject) says
    what waits and how long; nothing about the patient, which the console shows."""
    catalog = gettext_for(language)
    title = catalog.gettext(_NURSE_ALERT_TITLE) % {"minutes": waiting_minutes}
    body = catalog.gettext(_NURSE_ALERT)
    return Message(title=title, body=body, url=f"{base_url.rstrip('/')}/console", tag=tag)
