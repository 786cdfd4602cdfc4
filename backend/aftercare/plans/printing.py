"""The plan as a readable text table, for `aftercare protocol plan`."""

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from babel.dates import format_date

from aftercare.i18n import gettext_for
from aftercare.plans.engine import PlanDay, in_language
from aftercare.protocols.loader import Protocol


def format_plan(protocol: Protocol, days: Sequence[PlanDay], zone: str, language: str) -> str:
    _ = gettext_for(language).gettext
    lines = [
        f"{protocol.name(language)} · {protocol.id} v{protocol.version} · {zone} · {language}",
        "",
    ]
    labels = {"all-day": _("all day"), "as-needed": _("as needed")}
    width = max(len(label) for label in labels.values()) + 1
    for plan_day in days:
        heading = _("Day %(day)s of %(days)s") % {"day": plan_day.day, "days": len(days)}
        when = format_date(plan_day.date, format="EEE d MMM y", locale=language)
        lines.append(f"{heading} · {plan_day.date.isoformat()} · {when}")
        for item in plan_day.items:
            at = labels.get(item.timing, "")
            if item.local_time and item.due_at:
                # The offset shows a daylight-saving change keeping the local time.
                offset = item.due_at.astimezone(ZoneInfo(zone)).strftime("%z")
                at = f"{item.local_time:%H:%M} {offset[:3]}"
            bell = "*" if item.reminder else " "
            title = in_language(item.title, language)
            lines.append(f"  {at:<{width}} {bell} {item.kind:<10}  {title}")
        lines.append("")
    lines.append(_("* = the patient gets a reminder"))
    return "\n".join(lines)
