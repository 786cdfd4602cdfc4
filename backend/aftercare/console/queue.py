"""The flag queue: what needs a nurse now, red first, oldest first."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from aftercare.console.web import ConsoleDep, render

router = APIRouter(include_in_schema=False)


@router.get("/console/queue", response_model=None)
def queue_page(request: Request, user: ConsoleDep) -> Response:
    return render(request, user, "console/queue.html")
