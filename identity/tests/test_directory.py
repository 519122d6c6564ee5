"""Reading the bootstrap LDIF: the seeded people and their roles, as the dev OIDC provider sees them."""

from pathlib import Path

import pytest

from folio_identity.directory import bootstrap_ldif, normalize_dn, read_entries, seeded_users


def test_seeded_users_are_alice_bob_carol_and_dave_with_their_groups_as_roles() -> None:
    users = {u.username: u for u in seeded_users()}

    assert set(users) == {"alice", "bob", "carol", "dave"}
    assert users["dave"].roles == {"support"}
    assert users["alice"].roles == {"customer"}
    assert users["bob"].roles == {"customer"}
    assert users["carol"].roles == {"customer", "catalog-admin"}
    carol = users["carol"]
    assert (carol.dn, carol.name, carol.given_name, carol.family_name, carol.email) == (
        "uid=carol,ou=people,dc=folio,dc=example",
        "Carol Carter",
        "Carol",
        "Carter",
        "carol@folio.example",
    )


def test_the_bootstrap_holds_no_password() -> None:
    for entry in read_entries():
        assert not entry.values("userPassword"), entry.dn
    assert "userpassword" not in bootstrap_ldif().read_text().lower()


def test_membership_matches_dns_regardless_of_case_and_spacing(tmp_path: Path) -> None:
    ldif = tmp_path / "people.ldif"
    ldif.write_text(
        "dn: uid=dave,ou=people,dc=folio,dc=example\n"
        "objectClass: inetOrgPerson\nuid: dave\ncn: Dave D\ngivenName: Dave\nsn: D\nmail: d@folio.example\n\n"
        "dn: cn=catalog-admin,ou=groups,dc=folio,dc=example\n"
        "objectClass: groupOfNames\ncn: catalog-admin\nmember: UID=Dave, OU=People, DC=folio, DC=example\n"
    )

    (dave,) = seeded_users(ldif)

    assert dave.roles == {"catalog-admin"}
    assert normalize_dn("UID=Dave, OU=People") == "uid=dave,ou=people"


def test_a_person_without_a_mail_attribute_is_reported_by_dn(tmp_path: Path) -> None:
    ldif = tmp_path / "broken.ldif"
    ldif.write_text(
        "dn: uid=eve,dc=x\nobjectClass: inetOrgPerson\nuid: eve\ncn: Eve\ngivenName: Eve\nsn: E\n"
    )

    with pytest.raises(ValueError, match=r"uid=eve,dc=x: no 'mail' attribute"):
        seeded_users(ldif)
