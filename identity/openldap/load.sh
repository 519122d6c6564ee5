#!/bin/sh
# Load Folio's bootstrap LDIF into an OpenLDAP server and set each person's password from a file.
# What the cluster's directory Job runs (and what the tests run against a real slapd). Idempotent:
# entries that already exist are kept, passwords are (re)set every run.
#
#   LDAP_URL                  ldap://openldap:389
#   LDAP_ADMIN_DN             a DN allowed to add entries and set passwords (e.g. cn=admin,dc=folio,dc=example)
#   LDAP_ADMIN_PASSWORD_FILE  file holding that DN's password (a mounted Secret key)
#   LDAP_PASSWORDS_DIR        one file per person, named by uid (alice, bob, carol, dave), holding the password
#   LDIF                      optional: the LDIF to load (default: bootstrap.ldif beside this script)
# Passwords are read from files (ldapadd -y, ldappasswd -T), so none appears on a command line.
set -eu

missing=""
for name in LDAP_URL LDAP_ADMIN_DN LDAP_ADMIN_PASSWORD_FILE LDAP_PASSWORDS_DIR; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
    echo "load.sh: missing environment:$missing" >&2
    exit 2
fi
LDIF=${LDIF:-$(dirname "$0")/bootstrap.ldif}
[ -r "$LDIF" ] || { echo "load.sh: cannot read LDIF $LDIF" >&2; exit 2; }
[ -r "$LDAP_ADMIN_PASSWORD_FILE" ] || { echo "load.sh: cannot read LDAP_ADMIN_PASSWORD_FILE $LDAP_ADMIN_PASSWORD_FILE" >&2; exit 2; }

# Every person in the LDIF needs a password file before anything is written. (People are the uid=…
# entries; their DNs have no blanks, so a plain word list holds them.)
people=$(sed -n 's/^dn: \(uid=[^,]*,.*\)$/\1/p' "$LDIF")
for dn in $people; do
    uid=${dn#uid=}
    uid=${uid%%,*}
    [ -s "$LDAP_PASSWORDS_DIR/$uid" ] || { echo "load.sh: no password file $LDAP_PASSWORDS_DIR/$uid for $dn" >&2; exit 2; }
done

skipped=$(mktemp)
trap 'rm -f "$skipped"' EXIT
# -c goes on past entries that already exist; -S records every entry it skipped with the reason.
# With -c the exit status is the last entry's, so both it and the skipped entries are checked.
status=0
ldapadd -c -x -H "$LDAP_URL" -D "$LDAP_ADMIN_DN" -y "$LDAP_ADMIN_PASSWORD_FILE" -f "$LDIF" -S "$skipped" >/dev/null || status=$?
if { [ "$status" != 0 ] && [ "$status" != 68 ]; } || grep '^# Error:' "$skipped" | grep -v '(68)$' >&2; then
    echo "load.sh: ldapadd failed with status $status (errors above; (68) already exists is fine)" >&2
    exit 1
fi
added=$(grep -c '^dn:' "$LDIF")
existing=$(grep -c '^dn:' "$skipped" || true)
echo "load.sh: $((added - existing)) entries added, $existing already there"

for dn in $people; do
    uid=${dn#uid=}
    uid=${uid%%,*}
    ldappasswd -x -H "$LDAP_URL" -D "$LDAP_ADMIN_DN" -y "$LDAP_ADMIN_PASSWORD_FILE" -T "$LDAP_PASSWORDS_DIR/$uid" "$dn" >/dev/null
done
echo "load.sh: passwords set for $(echo $people | wc -w) people"
