"""The clinic report: a page with charts and the same figures as CSV."""

import csv
import io

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from aftercare.console.bars import bar_chart, row_chart
from aftercare.console.web import ConsoleDep, audit, console_language, render
from aftercare.deps import NowDep, SessionDep
from aftercare.flags.rules import rule_label
from aftercare.i18n import gettext_for
from aftercare.protocols.deps import ProtocolsDep
from aftercare.protocols.loader import Protocol
from aftercare.protocols.schema import RuleSpec
from aftercare.reports.monthly import DEFAULT_WEEKS, MAX_WEEKS, Report, clinic_report, csv_rows

router = APIRouter(include_in_schema=False)


def _weeks(raw: str | None) -> int | None:
    """The number of weeks asked for, or None when it is not a whole number from 1 to 52."""
    if raw is None or raw == "":
        return DEFAULT_WEEKS
    try:
        weeks = int(raw)
    except ValueError:
        return None
    return weeks if 1 <= weeks <= MAX_WEEKS else None


def reason_labels(
    codes: list[str], protocols: dict[str, Protocol], language: str
) -> dict[str, str]:
    """Each reason code as the rule that raised it reads, in the nurse's language (the
    first procedure file that has the rule; a rule no file has any more keeps its code)."""
    rules: dict[str, RuleSpec] = {}
    for protocol in protocols.values():
        for rule in protocol.rules:
            rules.setdefault(rule.code, rule)
    return {code: rule_label(rules.get(code), code, language) for code in codes}


def _charts(report: Report, lang: str, labels: dict[str, str]) -> dict[str, str]:
    text = gettext_for(lang).gettext
    adherence = [(week.start.strftime("%d/%m"), week.adherence) for week in report.weeks]
    done = ", ".join(
        f"{week.start.isoformat()}: {'–' if week.adherence is None else f'{week.adherence:.0f}%'}"
        for week in report.weeks
    )
    totals = [
        (labels.get(code, code), float(sum(w.flags.get(code, 0) for w in report.weeks)))
        for code in report.codes
    ]
    flagged = ", ".join(f"{label}: {total:.0f}" for label, total in totals) or text("none")
    return {
        "adherence": bar_chart(
            adherence, 100, "adherence-chart", text("Check-in adherence per week (%)"), done
        ),
        "flags": row_chart(
            totals,
            max((total for _, total in totals), default=0),
            "flags-chart",
            text("Flags by reason over the period"),
            flagged,
        ),
    }


@router.get("/console/report", response_model=None)
def report_page(
    request: Request,
    user: ConsoleDep,
    session: SessionDep,
    protocols: ProtocolsDep,
    now: NowDep,
    weeks: str | None = None,
) -> Response:
    """The last weeks' figures as charts and tables; any nurse of the clinic may read them."""
    count = _weeks(weeks)
    if count is None:
        return render(request, user, "console/report.html", status.HTTP_422_UNPROCESSABLE_CONTENT,
                      invalid="weeks", weeks=weeks, max_weeks=MAX_WEEKS)  # fmt: skip
    report = clinic_report(session, user.clinic, now, count)
    audit(session, request, user, now, "report.viewed", "clinic", user.clinic.id, weeks=count)
    language = console_language(request, user)
    labels = reason_labels(report.codes, protocols, language)
    charts = _charts(report, language, labels)
    procedures = {key: protocol.name(language) for key, protocol in protocols.items()}
    return render(request, user, "console/report.html", report=report, weeks=count,
                  max_weeks=MAX_WEEKS, charts=charts, procedures=procedures,
                  labels=labels)  # fmt: skip


@router.get("/console/report.csv", response_model=None)
def report_csv(
    request: Request,
    user: ConsoleDep,
    session: SessionDep,
    now: NowDep,
    weeks: str | None = None,
) -> Response:
    """The page's figures, one row per week and measure."""
    count = _weeks(weeks)
    if count is None:
        return render(request, user, "console/report.html", status.HTTP_422_UNPROCESSABLE_CONTENT,
                      invalid="weeks", weeks=weeks, max_weeks=MAX_WEEKS)  # fmt: skip
    report = clinic_report(session, user.clinic, now, count)
    audit(session, request, user, now, "report.exported", "clinic", user.clinic.id, weeks=count)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["week", "measure", "value"])
    writer.writerows(csv_rows(report))
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="report.csv"',
            "Cache-Control": "no-store",
        },
    )
