"""The error answers of /api/v1, as its OpenAPI description announces them.

Each router lists the ones its routes can give (`responses=`): a client made from
/openapi.json, and the schemathesis run in tests/test_fuzz_api.py, then know every status
code the API answers with, and the shape of each.
"""

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel


class ErrorPublic(BaseModel):
    """What went wrong, in words for people; never the values that were sent."""

    detail: str


Responses = dict[int | str, dict[str, Any]]


def error(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An error answer of this shape; each header named (with its meaning) is always sent."""
    answer: dict[str, Any] = {"model": ErrorPublic, "description": description}
    if headers:
        answer["headers"] = {
            name: {"description": meaning, "required": True, "schema": {"type": "string"}}
            for name, meaning in headers.items()
        }
    return answer


UNAUTHORISED: Responses = {
    401: error(
        "No valid bearer token for this route (checked before the body)",
        {"WWW-Authenticate": "Bearer"},
    )
}
NOT_FOUND: Responses = {
    404: error("No such thing, or one of another clinic or patient (not revealed)")
}
TOO_LARGE: Responses = {413: error("The body is over 1 MiB, or its JSON is nested too deeply")}
TOO_OFTEN: Responses = {
    429: error("Done too often in a short while", {"Retry-After": "Seconds to wait"})
}
UNAVAILABLE: Responses = {
    503: error("The database is briefly unreachable, or a procedure file is missing")
}
# Every route behind a token can meet these.
SIGNED_IN: Responses = UNAUTHORISED | TOO_LARGE | UNAVAILABLE


def invalid_field(field: str, message: str, value: object = None) -> RequestValidationError:
    """A 422 shaped like FastAPI's own, for rules that need more than the body to check."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}]
    )
