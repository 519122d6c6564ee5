"""Folio's seeded directory, read from the OpenLDAP bootstrap LDIF.

One source for the people who can sign in: slapd loads this LDIF in a cluster (Keycloak federates it), and
the embedded dev OIDC provider reads it here, so both know the same users with the same roles.
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import ldif

_SOURCE_TREE = Path(__file__).resolve().parents[2]


def asset(relative: str) -> Path:
    """A file of identity/ (e.g. "openldap/bootstrap.ldif"), from an installed wheel or the source tree."""
    # A wheel carries keycloak/ and openldap/ inside the package (hatch force-include); an editable
    # install (the workspace) reads them where they live in the repository.
    packaged = resources.files("folio_identity").joinpath(relative)
    if isinstance(packaged, Path) and packaged.is_file():
        return packaged
    path = _SOURCE_TREE / relative
    if not path.is_file():
        raise FileNotFoundError(f"identity asset {relative!r} not found in the package nor at {path}")
    return path


def bootstrap_ldif() -> Path:
    """The OpenLDAP bootstrap LDIF: organisation, people, groups (no passwords)."""
    return asset("openldap/bootstrap.ldif")


def normalize_dn(dn: str) -> str:
    """A DN in a comparable form: lower case, no blanks around separators.

    Enough for the plain ASCII DNs of the bootstrap; not a general RFC 4514 canonicaliser.
    """
    rdns = []
    for rdn in dn.split(","):
        name, _, value = rdn.partition("=")
        rdns.append(f"{name.strip().lower()}={value.strip().lower()}")
    return ",".join(rdns)


@dataclass(frozen=True)
class Entry:
    """One LDIF entry; attribute names are lower-cased (LDAP names are case-insensitive)."""

    dn: str
    attributes: dict[str, tuple[str, ...]]

    def values(self, name: str) -> tuple[str, ...]:
        return self.attributes.get(name.lower(), ())

    def first(self, name: str) -> str:
        values = self.values(name)
        if not values:
            raise ValueError(f"{self.dn}: no {name!r} attribute")
        return values[0]

    @property
    def object_classes(self) -> frozenset[str]:
        return frozenset(v.lower() for v in self.values("objectClass"))


@dataclass(frozen=True)
class DirectoryUser:
    """A person who can sign in: `username` is the uid, `roles` the cn of each group listing them."""

    username: str
    dn: str
    name: str
    given_name: str
    family_name: str
    email: str
    roles: frozenset[str]


def read_entries(path: Path | None = None) -> list[Entry]:
    """Every entry of an LDIF file (the bootstrap by default), in file order."""
    source = path or bootstrap_ldif()
    with source.open("rb") as stream:
        # process_url_schemes=() by default: a `attr:< file://` line is never fetched.
        records = ldif.LDIFParser(stream).parse()
        return [
            Entry(dn=dn, attributes={k.lower(): tuple(v) for k, v in record.items()})
            for dn, record in records
            if dn is not None  # the `version: 1` header parses as a record without a DN
        ]


def seeded_users(path: Path | None = None) -> list[DirectoryUser]:
    """The inetOrgPerson entries with their roles (groupOfNames they are a member of), by username."""
    entries = read_entries(path)
    groups = [e for e in entries if "groupofnames" in e.object_classes]
    users = []
    for entry in entries:
        if "inetorgperson" not in entry.object_classes:
            continue
        dn = normalize_dn(entry.dn)
        roles = frozenset(
            g.first("cn") for g in groups if dn in {normalize_dn(m) for m in g.values("member")}
        )
        users.append(
            DirectoryUser(
                username=entry.first("uid"),
                dn=entry.dn,
                name=entry.first("cn"),
                given_name=entry.first("givenName"),
                family_name=entry.first("sn"),
                email=entry.first("mail"),
                roles=roles,
            )
        )
    return sorted(users, key=lambda u: u.username)
