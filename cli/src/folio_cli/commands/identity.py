"""`folio identity apply`: the Folio realm as code, applied to a running Keycloak."""

from pathlib import Path
from typing import Annotated

import typer


def apply(
    keycloak_url: Annotated[
        str | None, typer.Option(help="Keycloak's base URL (else FOLIO_IDENTITY_KEYCLOAK_URL)")
    ] = None,
    shop_url: Annotated[
        str | None, typer.Option(help="the shop's external URL, for redirects (else FOLIO_IDENTITY_SHOP_URL)")
    ] = None,
    ldap_url: Annotated[
        str | None, typer.Option(help="OpenLDAP's URL (else FOLIO_IDENTITY_LDAP_URL)")
    ] = None,
    realm_file: Annotated[
        Path | None, typer.Option(help="the realm JSON (default: identity/keycloak/folio-realm.json)")
    ] = None,
    update_secrets: Annotated[
        bool, typer.Option(help="also write the LDAP bind credential, which Keycloak never shows back")
    ] = False,
) -> None:
    """Create or update the Folio realm in a running Keycloak; a second run changes nothing."""
    import json

    from keycloak.exceptions import KeycloakAuthenticationError, KeycloakConnectionError, KeycloakError
    from pydantic import ValidationError

    from folio_cli.identity import IdentitySettings, RealmApplier, connect, resolve_realm, settings_problems
    from folio_identity.realm import realm_template

    def fail(message: str, code: int) -> typer.Exit:
        typer.secho(f"folio identity apply: {message}", fg="red", err=True)
        return typer.Exit(code)

    overrides = {"keycloak_url": keycloak_url, "shop_url": shop_url, "ldap_url": ldap_url}
    try:
        settings = IdentitySettings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as error:
        raise fail(settings_problems(error), 2) from None
    try:
        template = json.loads(realm_file.read_text()) if realm_file else realm_template()
        realm = resolve_realm(template, settings)
    except (OSError, ValueError) as error:
        raise fail(f"cannot use the realm file: {error}", 2) from None
    admin = connect(settings, realm["realm"])
    try:
        changes = RealmApplier(admin, realm, update_secrets=update_secrets).apply()
    except KeycloakAuthenticationError as error:
        raise fail(
            f"Keycloak at {settings.keycloak_url} refused the admin sign-in of "
            f"{settings.keycloak_admin_user!r} in realm {settings.keycloak_admin_realm!r} "
            f"(FOLIO_IDENTITY_KEYCLOAK_ADMIN_USER / _PASSWORD): {error.error_message!r}",
            1,
        ) from None
    except KeycloakConnectionError as error:
        raise fail(f"cannot reach Keycloak at {settings.keycloak_url}: {error}", 1) from None
    except KeycloakError as error:
        raise fail(f"Keycloak answered {error.response_code}: {error.error_message!r}", 1) from None
    for line in changes.lines:
        typer.echo(f"{line}")
    typer.secho(
        f"realm {realm['realm']}: "
        + (f"{len(changes.lines)} change(s) applied" if changes.lines else "unchanged"),
        fg="green",
    )
