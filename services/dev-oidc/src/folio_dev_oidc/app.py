"""DEVELOPMENT ONLY: an OpenID provider standing in for Keycloak when Folio runs on a laptop.

It speaks the part of OpenID Connect the storefront and the services use — discovery, JWKS,
the authorization code flow with PKCE (S256 required), refresh tokens, client credentials and
logout — so they run the very code path they run against Keycloak. It refuses to start in
production or on a non-loopback interface (settings.py). Who may call what:
  /.well-known/openid-configuration, /jwks ...... anyone (public keys)
  /authorize .................................... anyone; a seeded user signs in with their password
  /token ........................................ registered clients (secret, or PKCE for public ones)
  /logout ....................................... anyone; ends the sign-in session (id_token_hint or
                                                  the browser's cookie), frames the other clients'
                                                  front-channel logout URIs, redirects only to a
                                                  registered URI
"""

import base64
import logging
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit

import uvicorn
from fastapi import FastAPI, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from folio_dev_oidc.provider import OAuthError, Provider, load_clients, load_users
from folio_dev_oidc.settings import Settings
from folio_platform.logging import configure_logging
from folio_platform.settings import load_settings

HERE = Path(__file__).parent
log = logging.getLogger(__name__)
# The provider's own sign-in session in the browser (its sid), for logout without an id_token_hint.
SESSION_COOKIE = "dev_oidc_session"


def _client_auth(authorization: str | None, form_id: str, form_secret: str) -> tuple[str, str | None]:
    """(client_id, secret) from HTTP Basic or the form (client_secret_basic / _post / none)."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:]).decode()
        except ValueError:
            raise OAuthError("invalid_client", "malformed Basic authorization", 401) from None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    if not form_id:
        raise OAuthError("invalid_client", "client_id is required", 401)
    return form_id, form_secret or None


def create_app(settings: Settings, provider: Provider | None = None) -> FastAPI:
    provider = provider or Provider(
        issuer=settings.issuer(),
        audience=settings.audience,
        users=load_users(settings.users_file),
        clients=load_clients(settings.clients_file),
        access_token_seconds=settings.access_token_seconds,
    )
    templates = Jinja2Templates(directory=HERE / "templates")
    app = FastAPI(
        title="Folio development OpenID provider (NOT for production)",
        description="Stands in for Keycloak on a laptop. Never deploy it.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.provider = provider

    @app.exception_handler(OAuthError)
    async def oauth_error(request: Request, error: OAuthError) -> JSONResponse:
        return JSONResponse({"error": error.error, "error_description": error.description}, error.status)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, object]:
        return provider.discovery()

    @app.get("/jwks")
    async def jwks() -> dict[str, object]:
        return provider.jwks()

    @app.get("/authorize", response_class=HTMLResponse)
    async def authorize_form(
        request: Request,
        client_id: str,
        redirect_uri: str,
        response_type: str = "code",
        state: str = "",
        nonce: str = "",
        scope: str = "openid",
        code_challenge: str = "",
        code_challenge_method: str = "",
    ) -> Response:
        if response_type != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code is supported")
        provider.check_authorize_request(
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            method=code_challenge_method,
        )
        return templates.TemplateResponse(
            request, "login.html", {"request_fields": dict(request.query_params), "error": None}
        )

    @app.post("/authorize")
    async def authorize(
        request: Request,
        username: Annotated[str, Form(max_length=100)],
        password: Annotated[str, Form(max_length=200)],
        client_id: Annotated[str, Form()],
        redirect_uri: Annotated[str, Form()],
        code_challenge: Annotated[str, Form()] = "",
        code_challenge_method: Annotated[str, Form()] = "",
        state: Annotated[str, Form()] = "",
        nonce: Annotated[str, Form()] = "",
        scope: Annotated[str, Form()] = "openid",
    ) -> Response:
        provider.check_authorize_request(
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            method=code_challenge_method,
        )
        user = provider.sign_in(username, password)
        if user is None:
            fields = {k: v for k, v in (await request.form()).items() if k not in ("username", "password")}
            return templates.TemplateResponse(
                request,
                "login.html",
                {"request_fields": fields, "error": "Unknown user or wrong password."},
                status_code=401,
            )
        sid = request.cookies.get(SESSION_COOKIE, "")
        if not provider.session_active(sid):
            sid = provider.start_session()
        code = provider.issue_code(
            user,
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            nonce=nonce,
            scope=scope,
            sid=sid,
        )
        response = RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", 303)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax")
        return response

    @app.post("/token")
    async def token(
        grant_type: Annotated[str, Form()],
        authorization: Annotated[str | None, Header()] = None,
        client_id: Annotated[str, Form()] = "",
        client_secret: Annotated[str, Form()] = "",
        code: Annotated[str, Form()] = "",
        redirect_uri: Annotated[str, Form()] = "",
        code_verifier: Annotated[str, Form()] = "",
        refresh_token: Annotated[str, Form()] = "",
    ) -> JSONResponse:
        client = provider.authenticate_client(*_client_auth(authorization, client_id, client_secret))
        if grant_type == "authorization_code":
            body = provider.exchange_code(
                client=client, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
            )
        elif grant_type == "refresh_token":
            body = provider.refresh(client=client, refresh_token=refresh_token)
        elif grant_type == "client_credentials":
            body = provider.client_credentials(client)
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/logout")
    async def logout(
        request: Request,
        post_logout_redirect_uri: Annotated[str, Query(max_length=500)] = "",
        client_id: Annotated[str, Query(max_length=100)] = "",
        id_token_hint: Annotated[str, Query(max_length=8000)] = "",
    ) -> Response:
        """RP-initiated logout: end the sign-in session named by id_token_hint (else by this
        browser's cookie), then frame every other client's front-channel logout URI."""
        sid, initiator = provider.session_of_id_token(id_token_hint) if id_token_hint else ("", client_id)
        sid = sid or request.cookies.get(SESSION_COOKIE, "")
        frames = provider.end_session(sid) if sid else {}
        # The client that asked has ended its own session already.
        frames.pop(initiator, None)
        registered = {uri for c in provider.clients.values() for uri in c.redirect_uris}
        # Back to the home page of a registered client's site, nowhere else.
        allowed = {f"{urlsplit(uri).scheme}://{urlsplit(uri).netloc}/" for uri in registered}
        back = post_logout_redirect_uri if post_logout_redirect_uri in allowed else ""
        response: Response
        if frames or not back:
            response = templates.TemplateResponse(
                request, "logout.html", {"frames": list(frames.values()), "back": back}
            )
        else:
            response = RedirectResponse(back, 303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    return app


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("dev-oidc", level=settings.log_level, fmt=settings.log_format)
    log.warning("DEVELOPMENT ONLY OpenID provider: never deploy it; Keycloak takes its place in a cluster")
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False
    )
