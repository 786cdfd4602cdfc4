"""The clinic's admin pages: its settings and its nurses."""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response

from aftercare.accounts.nurses import (
    Actor,
    NurseProblem,
    add_nurse,
    clinic_nurses,
    nurse_of_clinic,
    reset_password,
    set_active,
)
from aftercare.accounts.sessions import ConsoleUser
from aftercare.console.clinic_settings import (
    apply_settings,
    complete_form,
    current_form,
    parse_settings,
)
from aftercare.console.web import AdminDep, audit, render
from aftercare.deps import NowDep, SessionDep, client_of
from aftercare.web import CsrfChecked

router = APIRouter(include_in_schema=False)
NURSES = "/console/clinic/nurses"
CsrfField = Annotated[str | None, Form()]
# Lengths are checked by the service, which names the field; a form never gets FastAPI's JSON 422.
Text = Annotated[str, Form()]


@router.get("/console/clinic", response_model=None)
def clinic_page(request: Request, user: AdminDep, saved: bool = False) -> Response:
    return render(request, user, "console/clinic.html", form=current_form(user.clinic),
                  errors={}, saved=saved)  # fmt: skip


@router.post("/console/clinic", response_model=None)
def clinic_save(
    request: Request,
    user: AdminDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
    name: Text = "",
    phone: Text = "",
    emergency_number: Text = "",
    work_start: Text = "",
    work_end: Text = "",
    ack_target_minutes: Text = "",
    session_timeout_minutes: Text = "",
    app_name: Text = "",
    retention_days: Annotated[str | None, Form()] = None,
) -> Response:
    """Save the settings as a whole; a wrong field shows the form again, nothing saved."""
    form = complete_form(user.clinic, {
        "name": name, "phone": phone, "emergency_number": emergency_number,
        "work_start": work_start, "work_end": work_end, "ack_target_minutes": ack_target_minutes,
        "session_timeout_minutes": session_timeout_minutes, "app_name": app_name,
        "retention_days": retention_days,
    })  # fmt: skip
    wanted, errors = parse_settings(form)
    if wanted is None:
        return render(request, user, "console/clinic.html", status.HTTP_422_UNPROCESSABLE_CONTENT,
                      form=form, errors=errors, saved=False)  # fmt: skip
    changed = apply_settings(session, user.clinic, wanted)
    if changed:
        audit(session, request, user, now, "clinic.changed", "clinic", user.clinic.id,
              changed=changed)  # fmt: skip
    return RedirectResponse("/console/clinic?saved=1", status_code=status.HTTP_303_SEE_OTHER)


def _actor(request: Request, user: ConsoleUser) -> Actor:
    return Actor("nurse", user.nurse.id, client_of(request))


def _nurses_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    code: int = status.HTTP_200_OK,
    **values: object,
) -> Response:
    nurses = clinic_nurses(session, user.clinic.id)
    return render(request, user, "console/nurses.html", code, nurses=nurses, **values)


@router.get(NURSES, response_model=None)
def nurses_page(
    request: Request, user: AdminDep, session: SessionDep, done: str | None = None
) -> Response:
    """The clinic's nurses, with the forms to add one and to change each."""
    known = {"added", "disabled", "enabled", "password"}
    return _nurses_page(request, user, session, done=done if done in known else None,
                        form={"email": "", "admin": False}, errors={})  # fmt: skip


@router.post(NURSES, response_model=None)
def nurse_add(
    request: Request,
    user: AdminDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
    email: Text = "",
    password: Text = "",
    admin: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        add_nurse(session, user.clinic, email, password, admin is not None, now,
                  _actor(request, user))  # fmt: skip
    except NurseProblem as problem:
        session.rollback()
        return _nurses_page(request, user, session, status.HTTP_422_UNPROCESSABLE_CONTENT,
                            form={"email": email, "admin": admin is not None},
                            errors={problem.field: problem.message}, done=None)  # fmt: skip
    return RedirectResponse(f"{NURSES}?done=added", status_code=status.HTTP_303_SEE_OTHER)


def _change(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    now: NowDep,
    nurse_id: str,
    action: str,
    password: str = "",
) -> Response:
    nurse = nurse_of_clinic(session, user.clinic.id, nurse_id)
    if nurse is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND)
    actor = _actor(request, user)
    try:
        if action == "password":
            reset_password(session, nurse, password, now, actor)
        else:
            set_active(session, nurse, action == "enabled", now, actor)
    except NurseProblem as problem:
        session.rollback()
        errors = {f"{problem.field}-{nurse_id}": problem.message}
        return _nurses_page(request, user, session, status.HTTP_422_UNPROCESSABLE_CONTENT,
                            form={"email": "", "admin": False}, errors=errors,
                            done=None)  # fmt: skip
    return RedirectResponse(f"{NURSES}?done={action}", status_code=status.HTTP_303_SEE_OTHER)


@router.post(NURSES + "/{nurse_id}/disable", response_model=None)
def nurse_disable(
    request: Request, user: AdminDep, _csrf: CsrfChecked, session: SessionDep, now: NowDep,
    nurse_id: str,
) -> Response:  # fmt: skip
    """Disable a nurse: every session and token of theirs stops working at once."""
    return _change(request, user, session, now, nurse_id, "disabled")


@router.post(NURSES + "/{nurse_id}/enable", response_model=None)
def nurse_enable(
    request: Request, user: AdminDep, _csrf: CsrfChecked, session: SessionDep, now: NowDep,
    nurse_id: str,
) -> Response:  # fmt: skip
    return _change(request, user, session, now, nurse_id, "enabled")


@router.post(NURSES + "/{nurse_id}/password", response_model=None)
def nurse_password(
    request: Request, user: AdminDep, _csrf: CsrfChecked, session: SessionDep, now: NowDep,
    nurse_id: str,
    password: Text = "",
) -> Response:  # fmt: skip
    """Set a password the admin typed; signs the nurse out everywhere and lifts a lockout."""
    return _change(request, user, session, now, nurse_id, "password", password)
