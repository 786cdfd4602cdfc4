"""POST /api/v1/auth/token: the OAuth2 password flow for nurses."""

from tests.factories import PASSWORD


def test_a_nurse_signs_in_with_e_mail_and_password(client, factory):
    nurse = factory.nurse(email="Ines@North.example")
    response = client.post(
        "/api/v1/auth/token", data={"username": "ines@north.example", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and len(body["access_token"]) >= 40
    assert client.get("/api/v1/protocols", headers=nurse.headers).status_code == 200


def test_a_wrong_password_or_unknown_e_mail_is_401(client, factory):
    factory.nurse(email="ines@north.example")
    for username, password in [("ines@north.example", "nope"), ("who@north.example", PASSWORD)]:
        response = client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "Wrong e-mail or password"}


def test_repeated_failures_from_one_client_answer_429_even_with_the_right_password(
    client, factory, settings
):
    factory.nurse(email="ines@north.example")
    for _ in range(settings.max_auth_failures):
        client.post("/api/v1/auth/token", data={"username": "ines@north.example", "password": "x"})
    response = client.post(
        "/api/v1/auth/token", data={"username": "ines@north.example", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


def test_failures_age_out_of_the_window(client, factory, settings):
    import time_machine

    factory.nurse(email="ines@north.example")
    with time_machine.travel("2030-01-01 09:00Z", tick=False) as traveller:
        for _ in range(settings.max_auth_failures):
            client.post(
                "/api/v1/auth/token", data={"username": "ines@north.example", "password": "x"}
            )
        traveller.shift(60 * (settings.auth_failure_window_minutes + 1))
        response = client.post(
            "/api/v1/auth/token", data={"username": "ines@north.example", "password": PASSWORD}
        )
    assert response.status_code == 200


def test_a_form_without_fields_is_422_naming_them(client):
    response = client.post("/api/v1/auth/token", data={})
    assert response.status_code == 422
    fields = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert ("body", "username") in fields and ("body", "password") in fields


def test_routes_refuse_a_missing_or_unknown_bearer_token(client):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eA=="}):
        response = client.get("/api/v1/patients", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}


def test_a_patients_token_opens_no_nurse_route(client, factory):
    nurse = factory.nurse()
    patient = factory.patient_headers(factory.enrolment(nurse))
    assert client.get("/api/v1/patients", headers=patient).status_code == 401
    assert client.get("/api/v1/protocols", headers=patient).status_code == 401
