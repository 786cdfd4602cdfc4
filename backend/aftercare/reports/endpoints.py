"""What the clinic's monitoring reads: /metrics for Prometheus."""

from fastapi import APIRouter, Response

from aftercare.deps import EngineDep
from aftercare.reports import metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(engine: EngineDep) -> Response:
    return Response(
        metrics.render(engine),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
