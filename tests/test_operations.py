"""Health, headers and the OpenAPI description."""

from sqlalchemy import create_engine

from aftercare.app import create_app


def test_healthz_is_ok_with_a_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(settings):
    from fastapi.testclient import TestClient

    unreachable = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings, unreachable)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503


def test_every_answer_keeps_the_referrer_and_third_parties_out(client):
    response = client.get("/healthz")
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_api_answers_are_not_cached(client, factory):
    nurse = factory.nurse()
    assert (
        client.get("/api/v1/protocols", headers=nurse.headers).headers["cache-control"]
        == "no-store"
    )


def test_the_openapi_description_lists_the_v1_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/auth/token", "/api/v1/patients", "/api/v1/enroll", "/api/v1/me/plan"):
        assert path in paths


def test_no_page_loads_the_interactive_docs_from_a_cdn(client):
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
