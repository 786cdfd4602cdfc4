"""Every table, imported in one place for Alembic and for `create_all` in tests."""

from sqlmodel import SQLModel

from aftercare.accounts.models import AccessToken, AuthFailure, Clinic, Nurse
from aftercare.audit.models import AuditEvent
from aftercare.checkins.models import CheckIn
from aftercare.flags.models import Flag, QueueCard
from aftercare.messages.models import Message
from aftercare.patients.models import EnrollmentCode, Patient
from aftercare.plans.models import PlanItem
from aftercare.reminders.models import PushSubscription, Reminder, ServerKey

metadata = SQLModel.metadata

__all__ = [
    "AccessToken",
    "AuditEvent",
    "AuthFailure",
    "CheckIn",
    "Clinic",
    "EnrollmentCode",
    "Flag",
    "Message",
    "Nurse",
    "Patient",
    "PlanItem",
    "PushSubscription",
    "QueueCard",
    "Reminder",
    "ServerKey",
    "metadata",
]
