#!/bin/sh
# Servers the tests start for real from Debian's packages: PostgreSQL 15 and Redis.
# Installs whatever is missing (as root); the tests start their own on free loopback ports.
set -eu
missing=""
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$missing postgresql"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing -- run: sudo apt-get install$missing" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
# The packages start system-wide servers on their default ports; the tests start their own instead.
service postgresql stop >/dev/null 2>&1 || true
service redis-server stop >/dev/null 2>&1 || true
