"""The notify API's errors: every one is `{"error": <code>, "detail": …}`, and documented per status.

The runtime's handler (runtime/http_api.py) names an HTTPException's code by its status alone, which
has no code for 422: the service's own checks (a URL it refuses, a template that does not parse) raise
`Refused`, which carries its code, and `install` answers it in the same shape.
"""

from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

RefusalCode = Literal["invalid_url", "url_refused", "invalid_template"]


class Refused(HTTPException):
    """A request the service's own checks refuse (422), with the code that says which check."""

    def __init__(self, error: RefusalCode, detail: str) -> None:
        super().__init__(422, detail)
        self.error: RefusalCode = error


def null_field(field: str) -> RequestValidationError:
    """A field sent as null where the schema allows leaving it out but not null: answered like any
    other invalid field (`invalid_request`, with the field named)."""
    return RequestValidationError([{"type": "null", "loc": ("body", field), "msg": "cannot be null"}])


def install(api: FastAPI) -> None:
    @api.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, exc.status_code)


class Unauthorized(BaseModel):
    error: Literal["unauthorized"]
    detail: str


class NotFound(BaseModel):
    error: Literal["not_found"]
    detail: str


class Conflict(BaseModel):
    error: Literal["conflict"]
    detail: str


class Refusal(BaseModel):
    """Input the schema accepts but the service refuses: `invalid_url` (scheme, credentials),
    `url_refused` (an address the egress policy forbids), `invalid_template` (does not parse)."""

    error: RefusalCode
    detail: str


class FieldProblem(BaseModel):
    field: str
    message: str


class InvalidRequest(BaseModel):
    """A body or parameter that does not match the schema."""

    error: Literal["invalid_request"]
    detail: list[FieldProblem]


class BodyTooLarge(BaseModel):
    error: Literal["body_too_large"]
    detail: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Unauthorized, "description": "missing or unknown API key"},
    404: {"model": NotFound, "description": "no such resource for this shop"},
    413: {"model": BodyTooLarge, "description": "request body too large"},
    422: {
        "model": InvalidRequest | Refusal,
        "description": "invalid input, a URL the service refuses, or a template that does not parse",
    },
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Conflict, "description": "the delivery is still pending"}
}
