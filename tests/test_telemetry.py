"""FastAPI's own OpenTelemetry hooks never see a request: they would export a failed
request's body (what a patient typed) and an error's message to whatever collector a
clinic's server happens to have set up. Our logs are the record (`aftercare.logs`)."""

from typing import Any

import opentelemetry.trace as otel_trace
from opentelemetry.trace import NoOpTracer, TracerProvider

from tests.checkins.test_api import body


class RecordingTracer(NoOpTracer):
    def __init__(self, spans: list[str]) -> None:
        self.spans = spans

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.spans.append(name)
        return super().start_span(name, *args, **kwargs)

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.spans.append(name)
        return super().start_as_current_span(name, *args, **kwargs)


class RecordingProvider(TracerProvider):
    """A tracing set-up as another library, or an auto-instrumented server, would leave."""

    def __init__(self) -> None:
        self.spans: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> RecordingTracer:
        return RecordingTracer(self.spans)


def test_a_tracing_set_up_receives_nothing(client, factory, monkeypatch):
    provider = RecordingProvider()
    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    phone = factory.patient_headers(factory.enrolment(factory.nurse()))
    sent = body(pain=11, note="private words")  # refused: a body a collector would keep
    assert client.post("/api/v1/me/checkins", json=sent, headers=phone).status_code == 422
    assert client.post("/api/v1/me/checkins", json=body(), headers=phone).status_code == 201
    assert client.get("/healthz").status_code == 200
    assert provider.spans == []
