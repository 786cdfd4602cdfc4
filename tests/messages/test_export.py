"""The thread in the patient's FHIR export, as Communications."""

from fhir.resources.R4B.bundle import Bundle

from tests.messages.helpers import enrol, nurse_writes, patient_writes


def _resources(bundle, resource_type):
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def test_the_export_holds_the_thread_as_valid_communications(client, factory):
    nurse = factory.nurse()
    enrolment, phone = enrol(factory, nurse)
    _, other_phone = enrol(factory, nurse, alias="Z.Q.")
    asked = patient_writes(client, phone, "Is a little bleeding normal?")
    answered = nurse_writes(
        client, nurse, enrolment.id, "Yes, on the first days.\nCall if it soaks a pad."
    )
    patient_writes(client, other_phone, "someone else's words")
    client.get("/api/v1/me/messages", headers=phone)  # the answer is now read

    response = client.get("/api/v1/me/export", headers=phone)

    assert response.status_code == 200
    bundle = response.json()
    Bundle.model_validate(bundle)
    question, answer = _resources(bundle, "Communication")
    patient = {"reference": f"urn:uuid:{enrolment.id}"}
    assert question["id"] == asked["id"] and answer["id"] == answered["id"]
    assert question["status"] == answer["status"] == "completed"
    assert question["subject"] == answer["subject"] == patient
    assert question["sender"] == patient and answer["recipient"] == [patient]
    assert answer["sender"] == question["recipient"][0] == {"display": "North"}
    assert question["payload"] == [{"contentString": "Is a little bleeding normal?"}]
    assert answer["payload"][0]["contentString"] == answered["body"]
    assert "received" in answer and "received" not in question, "read, and not yet read"
    assert question["sent"].endswith(("+01:00", "+02:00")), "on the patient's clock"
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert f"urn:uuid:{asked['id']}" in full_urls
    assert nurse.email not in response.text, "which nurse wrote is not the patient's data"
    assert "someone else's words" not in response.text
