"""The bootstrap LDIF in a real slapd (Debian's), loaded by load.sh as the cluster Job does it.

Then the realm's LDAP federation settings are checked against what that directory really answers.
"""

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ldap3 import BASE, LEVEL, SUBTREE, Connection, Server
from ldap3.core.exceptions import LDAPBindError

from folio_identity.directory import asset, normalize_dn, seeded_users
from folio_identity.realm import ldap_mappers, ldap_provider, realm_template
from folio_testing.plugin import SlapdServer

pytestmark = pytest.mark.ldap

LOAD_SH = asset("openldap/load.sh")


def _secret_file(path: Path, value: str) -> Path:
    # As a mounted Secret key: exactly the value, no trailing newline, readable by its owner only.
    path.write_text(value)
    path.chmod(0o600)
    return path


def _load(slapd: SlapdServer, workdir: Path, passwords: dict[str, str]) -> subprocess.CompletedProcess[str]:
    secrets_dir = workdir / "passwords"
    secrets_dir.mkdir(exist_ok=True)
    for uid, password in passwords.items():
        _secret_file(secrets_dir / uid, password)
    env = {
        "PATH": os.environ["PATH"],
        "LDAP_URL": slapd.url,
        "LDAP_ADMIN_DN": slapd.admin_dn,
        "LDAP_ADMIN_PASSWORD_FILE": str(_secret_file(workdir / "admin", slapd.admin_password)),
        "LDAP_PASSWORDS_DIR": str(secrets_dir),
    }
    return subprocess.run(
        ["sh", str(LOAD_SH)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _generated_passwords() -> dict[str, str]:
    return {user.username: secrets.token_urlsafe(16) for user in seeded_users()}


def _binds(slapd: SlapdServer, dn: str, password: str) -> bool:
    try:
        with Connection(Server(slapd.url), user=dn, password=password, auto_bind=True) as connection:
            who = connection.extend.standard.who_am_i()
    except LDAPBindError:
        return False
    return normalize_dn(str(who).removeprefix("dn:")) == normalize_dn(dn)


@pytest.fixture
def loaded(slapd_server: SlapdServer, tmp_path: Path) -> dict[str, str]:
    """slapd with the bootstrap loaded; returns each seeded user's generated password."""
    passwords = _generated_passwords()
    result = _load(slapd_server, tmp_path, passwords)
    assert result.returncode == 0, result.stderr
    return passwords


def test_each_seeded_user_binds_with_their_password_and_not_with_another(
    slapd_server: SlapdServer, loaded: dict[str, str]
) -> None:
    for user in seeded_users():
        assert _binds(slapd_server, user.dn, loaded[user.username]), user.username
        assert not _binds(slapd_server, user.dn, loaded[user.username] + "x"), user.username
    alice = "uid=alice,ou=people,dc=folio,dc=example"
    assert not _binds(slapd_server, alice, loaded["bob"])


def test_loading_again_keeps_the_entries_and_sets_the_new_passwords(
    slapd_server: SlapdServer, loaded: dict[str, str], tmp_path: Path
) -> None:
    rotated = _generated_passwords()
    again = tmp_path / "again"
    again.mkdir()

    result = _load(slapd_server, again, rotated)

    assert result.returncode == 0, result.stderr
    assert "0 entries added, 10 already there" in result.stdout
    dn = "uid=carol,ou=people,dc=folio,dc=example"
    assert _binds(slapd_server, dn, rotated["carol"])
    assert not _binds(slapd_server, dn, loaded["carol"])


def test_load_refuses_to_start_without_a_password_for_every_person(
    slapd_server: SlapdServer, tmp_path: Path
) -> None:
    passwords = _generated_passwords()
    del passwords["bob"]

    result = _load(slapd_server, tmp_path, passwords)

    assert result.returncode == 2
    assert "no password file" in result.stderr
    assert "uid=bob,ou=people,dc=folio,dc=example" in result.stderr
    with Connection(
        Server(slapd_server.url),
        user=slapd_server.admin_dn,
        password=slapd_server.admin_password,
        auto_bind=True,
    ) as admin:
        assert not admin.search(slapd_server.suffix, "(objectClass=*)", BASE)  # nothing was written


def test_load_names_the_missing_settings() -> None:
    result = subprocess.run(
        ["sh", str(LOAD_SH)],
        env={"PATH": os.environ["PATH"], "LDAP_URL": "ldap://127.0.0.1:1"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "missing environment: LDAP_ADMIN_DN LDAP_ADMIN_PASSWORD_FILE LDAP_PASSWORDS_DIR" in result.stderr


def test_load_fails_when_the_directory_is_unreachable(slapd_server: SlapdServer, tmp_path: Path) -> None:
    server = SlapdServer(
        port=1,
        suffix=slapd_server.suffix,
        admin_dn=slapd_server.admin_dn,
        admin_password=slapd_server.admin_password,
        workdir=tmp_path,
    )

    result = _load(server, tmp_path, _generated_passwords())

    assert result.returncode == 1
    assert "ldapadd failed" in result.stderr


def _config(component: dict[str, Any], key: str) -> str:
    (value,) = component["config"][key]
    return str(value)


def test_realm_ldap_federation_agrees_with_the_loaded_directory(
    slapd_server: SlapdServer, loaded: dict[str, str]
) -> None:
    realm = realm_template()
    provider = ldap_provider(realm)
    mappers = {m["name"]: m for m in ldap_mappers(realm)}
    server = Server(slapd_server.url, get_info="ALL")
    # Keycloak reads the directory as its bind DN; the test reads it as the admin (the bind DN is per cluster).
    with Connection(
        server, user=slapd_server.admin_dn, password=slapd_server.admin_password, auto_bind=True
    ) as ldap:
        assert _config(provider, "vendor") == "other"  # OpenLDAP, not Active Directory
        assert _config(provider, "editMode") == "READ_ONLY"
        # Base DN: the users DN and the groups DN sit under a naming context the server serves.
        contexts = {normalize_dn(c) for c in server.info.naming_contexts}
        users_dn = _config(provider, "usersDn")
        roles_mapper = mappers["realm roles"]
        groups_dn = _config(roles_mapper, "roles.dn")
        for dn in (users_dn, groups_dn):
            assert any(normalize_dn(dn).endswith(c) for c in contexts), (dn, contexts)
            assert ldap.search(dn, "(objectClass=organizationalUnit)", BASE), f"{dn} is not in the directory"

        # Users: the object classes Keycloak filters on find exactly the seeded people at the search scope.
        classes = [c.strip() for c in _config(provider, "userObjectClasses").split(",")]
        scope = {"1": LEVEL, "2": SUBTREE}[_config(provider, "searchScope")]
        username_attr = _config(provider, "usernameLDAPAttribute")
        rdn_attr = _config(provider, "rdnLDAPAttribute")
        uuid_attr = _config(provider, "uuidLDAPAttribute")
        attribute_mappers = [m for m in mappers.values() if m["providerId"] == "user-attribute-ldap-mapper"]
        mapped = {_config(m, "ldap.attribute"): _config(m, "user.model.attribute") for m in attribute_mappers}
        assert mapped == {"uid": "username", "mail": "email", "givenName": "firstName", "sn": "lastName"}
        user_filter = "(&" + "".join(f"(objectClass={c})" for c in classes) + ")"
        assert ldap.search(
            users_dn, user_filter, scope, attributes=[username_attr, rdn_attr, uuid_attr, *mapped]
        )
        found = {str(e[username_attr].value): e for e in ldap.entries}
        assert set(found) == {u.username for u in seeded_users()}
        uuids = set()
        for username, entry in found.items():
            rdn = entry.entry_dn.split(",", 1)[0]
            assert normalize_dn(rdn) == normalize_dn(f"{rdn_attr}={username}")
            uuids.add(str(entry[uuid_attr].value))
            for ldap_attribute in mapped:
                assert entry[ldap_attribute].value, f"{username} has no {ldap_attribute}"
        assert len(uuids) == len(found)  # the UUID attribute identifies each person
        seeded = {u.username: u for u in seeded_users()}
        for username, entry in found.items():
            assert str(entry["mail"].value) == seeded[username].email
            assert str(entry["givenName"].value) == seeded[username].given_name
            assert str(entry["sn"].value) == seeded[username].family_name

        # Groups: the role mapper's object class and name attribute find one group per realm role, and
        # their membership attribute holds (as DNs) the people found above.
        assert roles_mapper["providerId"] == "role-ldap-mapper"
        assert _config(roles_mapper, "use.realm.roles.mapping") == "true"
        assert _config(roles_mapper, "membership.attribute.type") == "DN"
        assert _config(roles_mapper, "membership.user.ldap.attribute") == username_attr
        name_attr = _config(roles_mapper, "role.name.ldap.attribute")
        member_attr = _config(roles_mapper, "membership.ldap.attribute")
        group_filter = (
            "(&"
            + "".join(
                f"(objectClass={c.strip()})" for c in _config(roles_mapper, "role.object.classes").split(",")
            )
            + _config(roles_mapper, "roles.ldap.filter")
            + ")"
        )
        assert ldap.search(groups_dn, group_filter, LEVEL, attributes=[name_attr, member_attr])
        members_of = {
            str(g[name_attr].value): {normalize_dn(m) for m in g[member_attr].values} for g in ldap.entries
        }
        service_roles = {r for u in realm["users"] for r in u["realmRoles"]}
        assert set(members_of) == {r["name"] for r in realm["roles"]["realm"]} - service_roles
        user_dns = {normalize_dn(e.entry_dn): u for u, e in found.items()}
        roles_in_slapd: dict[str, set[str]] = {u: set() for u in found}
        for role, members in members_of.items():
            assert members <= set(user_dns), f"{role} lists someone outside {users_dn}"
            for member in members:
                roles_in_slapd[user_dns[member]].add(role)
        # What the dev OIDC provider reads from the LDIF is what Keycloak would read from slapd.
        assert roles_in_slapd == {u.username: set(u.roles) for u in seeded_users()}


def test_a_directory_group_named_like_the_service_role_grants_nothing(
    slapd_server: SlapdServer, loaded: dict[str, str]
) -> None:
    """Whoever can add a group to the directory cannot make a person a service: the role mapper's
    filter skips the group that would become the service-account role."""
    mapper = {m["name"]: m for m in ldap_mappers(realm_template())}["realm roles"]
    groups_dn = _config(mapper, "roles.dn")
    forged = f"cn=folio-service,{groups_dn}"
    with Connection(
        Server(slapd_server.url),
        user=slapd_server.admin_dn,
        password=slapd_server.admin_password,
        auto_bind=True,
    ) as ldap:
        assert ldap.add(
            forged,
            ["top", "groupOfNames"],
            {"cn": "folio-service", "member": "uid=bob,ou=people,dc=folio,dc=example"},
        ), ldap.result
        try:
            found_with = lambda extra: (  # noqa: E731
                ldap.search(groups_dn, f"(&(objectClass=groupOfNames){extra})", LEVEL, attributes=["cn"]),
                {str(e["cn"].value) for e in ldap.entries},
            )[1]
            assert "folio-service" in found_with("")
            names = found_with(_config(mapper, "roles.ldap.filter"))
            assert "folio-service" not in names
            assert {"customer", "catalog-admin", "support"} <= names
        finally:
            ldap.delete(forged)
