"""The HTTP API conventions every service shares: versioned FastAPI apps, shop authentication by
API key, a request-size limit, and errors as JSON with a precise message."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.audit import ADMIN, Actor, AuditTrail, Caller
from runtime.db import Database
from runtime.shops import Shop, ShopRegistry
from schemas.topics import AUDIT
from schemas.v1.audit import ActorKind

REJECTED_REQUESTS = Counter(
    "careloop_http_rejected_total", "HTTP requests refused, by reason", ["service", "reason"]
)

DEFAULT_MAX_BODY_BYTES = 256 * 1024
HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "not_allowed",
    409: "conflict",
    410: "gone",
    422: "unprocessable",
}


class ApiError(HTTPException):
    """The one way a route refuses a request: answered as `{"error": <error>, "detail": <detail>}`
    with `status`, like FastAPI's own refusals (whose code comes from HTTP_ERROR_CODES)."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail, headers)
        self.error = error


class BodySizeLimit:
    """413 for bodies over the limit, checked on Content-Length and on the bytes actually read."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, service: str, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.service = service
        self.per_path = dict(per_path or {})
        """Paths whose bodies have a limit of their own (a raw e-mail with its attachments)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        REJECTED_REQUESTS.labels(self.service, "body_too_large").inc()
        response = JSONResponse(
            {"error": "body_too_large", "detail": f"request body exceeds {limit} bytes"}, 413
        )
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def field_of(loc: Sequence[int | str]) -> str:
    """The field a validation error names, as the client wrote it: without FastAPI's leading "body"
    (where the value came from), but keeping a field of the body that is itself called `body` (a
    contact's or a reply's text)."""
    path = loc[1:] if loc and loc[0] == "body" else loc
    return ".".join(str(part) for part in path)


def make_api(
    service: str,
    title: str,
    description: str,
    *,
    db: Database | None = None,
    shops: ShopRegistry | None = None,
    context: object = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    path_body_bytes: Mapping[str, int] | None = None,
) -> FastAPI:
    """A service's app; its routes reach the database, the caller's shop and the service's context
    through the dependencies below (`Db`, `CurrentShop`, and `Depends(api_context)` typed by the
    service), so routes can live on module-level routers. (A benchmark's constant app needs none.)"""
    api = FastAPI(title=title, description=description, version="1.0.0", openapi_url="/v1/openapi.json")
    api.state.db = db
    api.state.context = context
    api.state.authenticate = shop_auth(shops if shops is not None else ShopRegistry([]), service)
    api.state.audit = AuditTrail.of(db.settings) if db is not None else AuditTrail(AUDIT.name, service)
    api.state.admin_token = db.settings.admin_token if db is not None else None
    api.state.service = service

    @api.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        REJECTED_REQUESTS.labels(service, "invalid_body").inc()
        problems = [{"field": field_of(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return JSONResponse({"error": "invalid_request", "detail": problems}, 422)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals and the auth dependency's, in the same {error, detail} shape
        error = (
            exc.error if isinstance(exc, ApiError) else HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        )
        return JSONResponse({"error": error, "detail": exc.detail}, exc.status_code, headers=exc.headers)

    api.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, service=service, per_path=path_body_bytes)
    return api


_bearer = HTTPBearer(auto_error=False)


def shop_auth(registry: ShopRegistry, service: str) -> Callable[..., Awaitable[Shop]]:
    """A FastAPI dependency resolving `Authorization: Bearer <key>` to the caller's shop: 401 for a
    missing, unknown or revoked key, 403 `shop_suspended` for a key of a suspended shop. Which key it
    was is left in `request.state.key_id` (the actor of what the request does)."""

    async def current_shop(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Shop:
        if credentials is None:
            REJECTED_REQUESTS.labels(service, "missing_api_key").inc()
            raise HTTPException(401, "missing API key: send Authorization: Bearer <key>")
        found = registry.authenticate(credentials.credentials)
        if found is None:
            REJECTED_REQUESTS.labels(service, "bad_api_key").inc()
            raise HTTPException(401, "unknown API key")
        if found.shop.suspended:
            REJECTED_REQUESTS.labels(service, "shop_suspended").inc()
            raise ApiError(403, "shop_suspended", "the shop is suspended: its keys are refused until resumed")
        request.state.key_id = found.key_id
        return found.shop

    return current_shop


# Dependencies are `async def` even where they await nothing: FastAPI runs a plain `def` dependency
# in a worker thread, a thread hop per request per dependency.
async def api_database(request: Request) -> Database:
    db: Database | None = request.app.state.db
    if db is None:
        raise RuntimeError("make_api was given no database")
    return db


async def api_context(request: Request) -> Any:
    """The service's context as make_api got it; a service types it once:
    `Ctx = Annotated[Context, Depends(api_context)]`."""
    return request.app.state.context


async def api_shop(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Shop:
    """The caller's shop, by `Authorization: Bearer <key>` (401 otherwise, 403 if suspended)."""
    authenticate: Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Shop]] = (
        request.app.state.authenticate
    )
    return await authenticate(request, credentials)


def _source(request: Request) -> str | None:
    # The peer of the connection: a forwarded-for header is anyone's to write, so it is not believed.
    return request.client.host if request.client is not None else None


def _is_admin(request: Request, credentials: HTTPAuthorizationCredentials | None) -> bool:
    token = request.app.state.admin_token
    if credentials is None or token is None:
        return False
    return hmac.compare_digest(credentials.credentials.encode(), token.get_secret_value().encode())


async def api_caller(request: Request, shop: Annotated[Shop, Depends(api_shop)]) -> Caller:
    """Who calls with a shop key: the key's id as the actor (for the audit log)."""
    actor = Actor(ActorKind.KEY, getattr(request.state, "key_id", "unknown"))
    return Caller(actor, shop.id, _source(request), request.app.state.audit)


async def api_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The operator, by `Authorization: Bearer <CARELOOP_ADMIN_TOKEN>` (401 otherwise, and always
    while no admin token is configured)."""
    if not _is_admin(request, credentials):
        REJECTED_REQUESTS.labels(request.app.state.service, "bad_admin_token").inc()
        raise HTTPException(401, "admin credential required: send Authorization: Bearer <admin token>")
    return Caller(ADMIN, None, _source(request), request.app.state.audit)


async def api_any_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The operator if the credential is the admin token, else the shop of the key."""
    if _is_admin(request, credentials):
        return Caller(ADMIN, None, _source(request), request.app.state.audit)
    shop = await api_shop(request, credentials)
    return await api_caller(request, shop)


Db = Annotated[Database, Depends(api_database)]
CurrentShop = Annotated[Shop, Depends(api_shop)]
CurrentCaller = Annotated[Caller, Depends(api_caller)]
"""The shop-key caller of a route that also takes `CurrentShop` (resolved once per request)."""
AdminCaller = Annotated[Caller, Depends(api_admin)]
AnyCaller = Annotated[Caller, Depends(api_any_caller)]
