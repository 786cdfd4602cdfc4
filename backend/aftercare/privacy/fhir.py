"""A patient's own data as FHIR R4 resources: plain values in, plain JSON-ready dicts out.

The resources are checked against the R4B models of `fhir.resources` (the
package has no R4 models that work with pydantic 2); Patient, CarePlan,
QuestionnaireResponse, Observation, Flag, Communication and Bundle are the same
in R4 and R4B.

Resources refer to each other through `urn:uuid:` full URLs, so the bundle
stands alone. Ids are derived from the rows', so the same data always gives
the same resources.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aftercare.checkins.schemas import CheckInPublic
from aftercare.flags.models import Flag
from aftercare.messages.models import Message
from aftercare.plans.schemas import PlanItemPublic, PlanPublic

Resource = dict[str, Any]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BCP47 = "urn:ietf:bcp:47"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# A core extension: the resource a flag was raised about (here, a check-in).
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"

PAIN_SCORE = {
    "system": LOINC,
    "code": "72514-3",
    "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
}
BODY_TEMPERATURE = {"system": LOINC, "code": "8310-5", "display": "Body temperature"}

# The check-in's answers in the order of the form; `temperature_c` is answered
# as a quantity, so its link id drops the unit.
ANSWER_LINK_IDS = (
    "pain",
    "temperature",
    "bleeding",
    "discharge",
    "urination",
    "allergy",
    "nausea",
    "wants_contact",
    "note",
)


def urn(resource_id: uuid.UUID) -> str:
    return f"urn:uuid:{resource_id}"


def reference(resource_id: uuid.UUID) -> dict[str, str]:
    return {"reference": urn(resource_id)}


def care_plan_id(patient_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(patient_id, "care-plan")


def observation_id(checkin_id: uuid.UUID, measure: str) -> uuid.UUID:
    return uuid.uuid5(checkin_id, measure)


def celsius(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "°C", "system": UCUM, "code": "Cel"}


def patient_resource(
    patient_id: uuid.UUID, alias: str, language: str, email: str | None, phone: str | None = None
) -> Resource:
    """The patient as the clinic knows them: an alias (never a name), a language, an e-mail
    and a phone number."""
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(patient_id),
        # FHIR's word for an alias or pseudonym is an "anonymous" name.
        "name": [{"use": "anonymous", "text": alias}],
    }
    telecom = [{"system": "email", "value": email}] if email else []
    if phone:
        telecom.append({"system": "phone", "value": phone})
    if telecom:
        resource["telecom"] = telecom
    resource["communication"] = [
        {"language": {"coding": [{"system": BCP47, "code": language}]}, "preferred": True}
    ]
    return resource


def _activity(day_date: str, item: PlanItemPublic) -> Resource:
    detail: Resource = {"status": "completed" if item.done else "not-started"}
    if item.title:
        detail["code"] = {"text": item.title}
    if item.appointment_at is not None:
        # The follow-up visit the clinic booked: its moment and, as text, its place.
        detail["scheduledTiming"] = {"event": [item.appointment_at.isoformat()]}
        if item.appointment_place:
            detail["location"] = {"display": item.appointment_place}
    elif item.timing == "at" and item.due_at is not None:
        detail["scheduledTiming"] = {"event": [item.due_at.isoformat()]}
    else:
        # All-day and as-needed items belong to their day, at no set time.
        detail["scheduledPeriod"] = {"start": day_date, "end": day_date}
    if item.detail:
        detail["description"] = item.detail
    return {"id": item.id, "detail": detail}


def care_plan_resource(
    plan: PlanPublic, patient_id: uuid.UUID, surgery_at: datetime, author: str, now: datetime
) -> Resource:
    """The frozen plan: one activity per item, completed when the patient ticked it off."""
    zone = ZoneInfo(plan.timezone)
    start = surgery_at.astimezone(zone)
    last_day = plan.days[-1].date if plan.days else start.date()
    over = now.astimezone(zone).date() > last_day
    resource: Resource = {
        "resourceType": "CarePlan",
        "id": str(care_plan_id(patient_id)),
        "status": "completed" if over else "active",
        "intent": "plan",
        "subject": reference(patient_id),
        "period": {"start": start.isoformat(), "end": last_day.isoformat()},
        "activity": [
            _activity(day.date.isoformat(), item) for day in plan.days for item in day.items
        ],
    }
    # The procedure and the clinic come after the long list of activities,
    # far from the first lines a file preview shows.
    resource["title"] = plan.protocol
    if author:
        resource["author"] = {"display": author}
    return resource


def _answer_items(checkin: CheckInPublic) -> list[Resource]:
    answers: list[tuple[str, Resource]] = [
        ("pain", {"valueInteger": checkin.pain}),
        ("bleeding", {"valueString": checkin.bleeding}),
        ("discharge", {"valueString": checkin.discharge}),
        ("urination", {"valueString": checkin.urination}),
        ("allergy", {"valueString": checkin.allergy}),
        ("nausea", {"valueBoolean": checkin.nausea}),
        ("wants_contact", {"valueBoolean": checkin.wants_contact}),
    ]
    # An unmeasured temperature or an empty note is no answer: FHIR has no empty values.
    if checkin.temperature_c is not None:
        answers.append(("temperature", {"valueQuantity": celsius(checkin.temperature_c)}))
    # A note of spaces alone (a no-break space too) is empty for FHIR, whose strings
    # need one character that is not white space.
    if checkin.note.strip():
        answers.append(("note", {"valueString": checkin.note}))
    order = {link_id: position for position, link_id in enumerate(ANSWER_LINK_IDS)}
    answers.sort(key=lambda answer: order[answer[0]])
    return [{"linkId": link_id, "answer": [value]} for link_id, value in answers]


def _observation(
    observation: uuid.UUID,
    category: str,
    code: dict[str, str],
    checkin: CheckInPublic,
    patient_id: uuid.UUID,
    value: Resource,
) -> Resource:
    return {
        "resourceType": "Observation",
        "id": str(observation),
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}],
        "code": {"coding": [code], "text": code["display"]},
        "subject": reference(patient_id),
        "effectiveDateTime": checkin.recorded_at.isoformat(),
        **value,
        "derivedFrom": [reference(checkin.id)],
    }


def checkin_resources(
    checkin: CheckInPublic, patient_id: uuid.UUID, plan_id: uuid.UUID
) -> list[Resource]:
    """A check-in as its QuestionnaireResponse, then its pain and temperature Observations."""
    response: Resource = {
        "resourceType": "QuestionnaireResponse",
        "id": str(checkin.id),
        "basedOn": [reference(plan_id)],
        "status": "completed",
        "subject": reference(patient_id),
        "authored": checkin.recorded_at.isoformat(),
        "item": _answer_items(checkin),
    }
    pain = _observation(
        observation_id(checkin.id, "pain"), "survey", PAIN_SCORE, checkin, patient_id,
        {"valueInteger": checkin.pain},
    )  # fmt: skip
    resources = [response, pain]
    if checkin.temperature_c is not None:
        temperature = _observation(
            observation_id(checkin.id, "body-temperature"), "vital-signs", BODY_TEMPERATURE,
            checkin, patient_id, {"valueQuantity": celsius(checkin.temperature_c)},
        )  # fmt: skip
        resources.append(temperature)
    return resources


def flag_resource(flag: Flag, timezone: str) -> Resource:
    """A flag raised for the nurses: active until it is resolved."""
    zone = ZoneInfo(timezone)
    codes = [str(reason["code"]) for reason in flag.reasons if reason.get("code")]
    period = {"start": flag.created_at.astimezone(zone).isoformat()}
    if flag.resolved_at is not None:
        period["end"] = flag.resolved_at.astimezone(zone).isoformat()
    resource: Resource = {"resourceType": "Flag", "id": str(flag.id)}
    if flag.checkin_id is not None:
        resource["extension"] = [{"url": FLAG_DETAIL, "valueReference": reference(flag.checkin_id)}]
    resource.update(
        {
            "status": "inactive" if flag.status == "resolved" else "active",
            "code": {"text": ", ".join(codes) or flag.severity},
            "subject": reference(flag.patient_id),
            "period": period,
        }
    )
    return resource


def communication_resource(message: Message, timezone: str, clinic: str) -> Resource:
    """A message of the thread with the clinic; the nurse who wrote one is not named."""
    zone = ZoneInfo(timezone)
    patient = reference(message.patient_id)
    # The clinic is no resource of the bundle: it is named, not referred to.
    the_clinic = {"display": clinic}
    from_patient = message.sender == "patient"
    resource: Resource = {
        "resourceType": "Communication",
        "id": str(message.id),
        "status": "completed",
        "subject": patient,
        "sent": message.created_at.astimezone(zone).isoformat(),
    }
    if message.read_at is not None:
        resource["received"] = message.read_at.astimezone(zone).isoformat()
    resource.update(
        {
            "recipient": [the_clinic if from_patient else patient],
            "sender": patient if from_patient else the_clinic,
            "payload": [{"contentString": message.body}],
        }
    )
    return resource


def collection(resources: Iterable[Resource], now: datetime) -> Resource:
    """The resources as a `collection` Bundle, each under its `urn:uuid:` full URL."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": [
            {"fullUrl": urn(uuid.UUID(resource["id"])), "resource": resource}
            for resource in resources
        ],
    }
