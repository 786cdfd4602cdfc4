"""Every word a reminder carries outside the app: neutral, whatever the plan item is.

A lock screen, an inbox or a shared calendar may be seen by anyone; the
detail is only ever shown inside the app.
"""

from aftercare.i18n import _, gettext_for
from aftercare.reminders.channels import Message

_BODIES = {
    "check-in": _("Time for your daily check-in"),
    "test": _("This is a test notification. Your reminders work."),
    "message": _("You have a new message"),
}
_DEFAULT_BODY = _("You have a new reminder")
_NURSE_ALERT = _("A red flag is waiting for acknowledgement")


def patient_message(
    purpose: str, item_kind: str | None, language: str, app_name: str, base_url: str, tag: str
) -> Message:
    translate = gettext_for(language).gettext
    key = item_kind if purpose == "plan-item" and item_kind == "check-in" else purpose
    body = translate(_BODIES.get(key, _DEFAULT_BODY))
    # A new message opens the thread; everything else opens Today. Both paths are neutral.
    page = "/messages" if purpose == "message" else "/today"
    return Message(title=app_name, body=body, url=f"{base_url.rstrip('/')}{page}", tag=tag)


def nurse_alert(base_url: str, tag: str) -> Message:
    # Nurses get no patient detail by e-mail or push either: the console has it.
    return Message(
        title="Aftercare", body=_NURSE_ALERT, url=f"{base_url.rstrip('/')}/console", tag=tag
    )
