#!/bin/sh
# The tests start a real PostgreSQL 15 from Debian's package. Install it when it is missing.
set -eu
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL server binaries are missing: run 'sudo apt-get install postgresql' (the tests start their own)" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
# The package starts a cluster on port 5432; the tests start their own on a free port instead.
service postgresql stop >/dev/null 2>&1 || true
