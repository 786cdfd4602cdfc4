"""The audit trail for admins: who did what, to what, when and from where."""

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session

from aftercare.accounts.models import Clinic
from aftercare.console.web import AdminDep, audit, render
from aftercare.deps import EngineDep, NowDep, SessionDep
from aftercare.reports.audit_log import AuditFilters, audit_export, audit_page, parse_filters

router = APIRouter(include_in_schema=False)

Filter = Annotated[str | None, Query(max_length=300)]


def _invalid(request: Request, user: AdminDep, filters: AuditFilters, field: str) -> Response:
    return render(request, user, "console/audit.html", status.HTTP_422_UNPROCESSABLE_CONTENT,
                  filters=filters, invalid=field, rows=[], page=1, more=False,
                  query="")  # fmt: skip


@router.get("/console/audit", response_model=None)
def audit_list(
    request: Request,
    user: AdminDep,
    session: SessionDep,
    now: NowDep,
    nurse: Filter = None,
    action: Filter = None,
    patient: Filter = None,
    since: Annotated[str | None, Query(alias="from", max_length=30)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=30)] = None,
    page: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """A page of 100 events, newest first, filtered; the listing itself is recorded first."""
    filters, invalid = parse_filters(nurse, action, patient, since, until)
    number = int(page) if page and page.isdigit() and 0 < int(page) < 1_000_000 else None
    if invalid is None and page and number is None:
        invalid = "page"
    if invalid:
        return _invalid(request, user, filters, invalid)
    audit(session, request, user, now, "audit.viewed", "clinic", user.clinic.id,
          page=number or 1, filters=filters.as_detail())  # fmt: skip
    rows, more = audit_page(session, user.clinic, filters, number or 1)
    number = number or 1
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != "page"]
    return render(request, user, "console/audit.html", filters=filters, rows=rows, page=number,
                  more=more, query=urlencode(kept), newer=urlencode([*kept, ("page", number - 1)]),
                  older=urlencode([*kept, ("page", number + 1)]))  # fmt: skip


@router.get("/console/audit.csv", response_model=None)
def audit_csv(
    request: Request,
    user: AdminDep,
    session: SessionDep,
    engine: EngineDep,
    now: NowDep,
    nurse: Filter = None,
    action: Filter = None,
    patient: Filter = None,
    since: Annotated[str | None, Query(alias="from", max_length=30)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=30)] = None,
) -> Response:
    """Every matching event as CSV, streamed."""
    filters, invalid = parse_filters(nurse, action, patient, since, until)
    if invalid:
        return _invalid(request, user, filters, invalid)
    audit(session, request, user, now, "audit.exported", "clinic", user.clinic.id,
          filters=filters.as_detail())  # fmt: skip
    return StreamingResponse(
        _csv_lines(engine, user.clinic.id, filters),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        },
    )


def _csv_lines(engine: Engine, clinic_id: uuid.UUID, filters: AuditFilters) -> Iterator[str]:
    # Its own session: the request's one is closed before the body has been sent.
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(["when", "who", "action", "subject", "subject_id", "subject_name",
                     "client", "details"])  # fmt: skip
    yield flush()
    with Session(engine) as session:
        clinic = session.get_one(Clinic, clinic_id)
        for count, row in enumerate(audit_export(session, clinic, filters), start=1):
            writer.writerow([row.at.isoformat(), row.who, row.action, row.subject, row.subject_id,
                             row.subject_label or "", row.client, row.detail_text])  # fmt: skip
            if count % 500 == 0:
                yield flush()
    yield flush()
