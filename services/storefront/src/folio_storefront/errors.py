"""Edge errors and the one error body shape every failure uses.

API paths get JSON `{"error": {"code", "message", "field"?, "dependency"?}}`; pages get a
friendly HTML page with the same status. Nothing expected ever surfaces as a bare 500.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    dependency: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class EdgeError(Exception):
    status_code = 500
    code = "internal"

    def __init__(self, message: str, *, field: str | None = None, dependency: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.dependency = dependency


class BadRequest(EdgeError):
    status_code = 400
    code = "invalid_argument"


class NotFoundError(EdgeError):
    status_code = 404
    code = "not_found"


class Conflict(EdgeError):
    """Well-formed, but the shop's state refuses it: an empty cart, too few copies, a declined card."""

    status_code = 409
    code = "failed_precondition"


class NotSignedIn(EdgeError):
    """No valid credentials for something that needs them: 401 (pages redirect to sign-in instead)."""

    status_code = 401
    code = "unauthenticated"


class Forbidden(EdgeError):
    status_code = 403
    code = "forbidden"


class TooBusy(EdgeError):
    """A backend is at its limit for this kind of call right now: 429, try again in a few seconds."""

    status_code = 429
    code = "resource_exhausted"

    def __init__(self, dependency: str, detail: str = "") -> None:
        super().__init__(detail or f"{dependency} is busy; try again in a few seconds", dependency=dependency)


class DependencyUnavailable(EdgeError):
    status_code = 503
    code = "dependency_unavailable"

    def __init__(self, dependency: str, detail: str = "") -> None:
        # The detail says which service behind `dependency` failed (orders -> payment), when known.
        reason = f" ({detail})" if detail and detail != f"{dependency} is unavailable" else ""
        super().__init__(f"{dependency} is unavailable{reason}; try again shortly", dependency=dependency)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "A parameter is invalid; `field` names it"},
    404: {"model": ErrorBody, "description": "No such resource"},
    503: {"model": ErrorBody, "description": "A backend is down; `dependency` names it"},
}

COMMERCE_RESPONSES: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorBody, "description": "The bearer token is missing, expired or does not verify"},
    403: {"model": ErrorBody, "description": "A cross-site request, or a caller without the needed role"},
    409: {
        "model": ErrorBody,
        "description": "Refused in the current state: empty cart, too few copies, card declined",
    },
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 429: "rate_limited"}


def install_error_handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    def respond(request: Request, status: int, detail: ErrorDetail) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(ErrorBody(error=detail).model_dump(exclude_none=True), status_code=status)
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "error": detail}, status_code=status
        )

    @app.exception_handler(EdgeError)
    async def edge_error(request: Request, error: EdgeError) -> Response:
        if isinstance(error, DependencyUnavailable):
            log.warning(
                "dependency unavailable", extra={"dependency": error.dependency, "path": request.url.path}
            )
        response = respond(
            request,
            error.status_code,
            ErrorDetail(
                code=error.code, message=error.message, field=error.field, dependency=error.dependency
            ),
        )
        if isinstance(error, TooBusy):
            response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0]
        # ("query", "page_size") -> page_size; ("body", "card", "number") -> card.number
        path = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body", "header")]
        field = ".".join(path) or None
        message = f"{field}: {first['msg']}" if field else str(first["msg"])
        return respond(request, 400, ErrorDetail(code="invalid_argument", message=message, field=field))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        code = _HTTP_CODES.get(error.status_code, "http_error")
        message = "no such page" if error.status_code == 404 else str(error.detail)
        return respond(request, error.status_code, ErrorDetail(code=code, message=message))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return respond(request, 500, ErrorDetail(code="internal", message="something went wrong on our side"))
