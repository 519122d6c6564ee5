#!/bin/sh
# What the tests start for real from Debian's packages: PostgreSQL 15, Redis, OpenLDAP (slapd, with
# ldap-utils for identity/openldap/load.sh), Prometheus (with promtool), Alertmanager (with amtool) and
# Chromium, which the browser tests drive through Playwright (no browser is ever downloaded).
# Installs whatever is missing (as root); the tests start their own on free loopback ports.
set -eu
missing=""
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$missing postgresql"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/sbin/slapd ] || missing="$missing slapd"
command -v ldapadd >/dev/null 2>&1 || missing="$missing ldap-utils"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
command -v amtool >/dev/null 2>&1 || missing="$missing prometheus-alertmanager"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing -- run: sudo apt-get install$missing" >&2
    exit 1
fi
apt-get update -qq
# slapd's debconf questions get their defaults (a throwaway dc=nodomain directory we never use).
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
# The packages start system-wide servers on their default ports (slapd on 389, all interfaces); the tests
# start their own instead, so stop those and keep them from starting at boot.
service postgresql stop >/dev/null 2>&1 || true
service redis-server stop >/dev/null 2>&1 || true
service slapd stop >/dev/null 2>&1 || true
# Prometheus' packages start a server (:9090, all interfaces), Alertmanager (:9093, gossip on :9094) and the
# recommended node exporter (:9100): the tests and `folio up --observe` run their own on loopback.
for unit in prometheus prometheus-alertmanager prometheus-node-exporter; do
    service "$unit" stop >/dev/null 2>&1 || true
done
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now slapd prometheus prometheus-alertmanager prometheus-node-exporter >/dev/null 2>&1 || true
else
    for unit in slapd prometheus prometheus-alertmanager prometheus-node-exporter; do
        update-rc.d "$unit" disable >/dev/null 2>&1 || true
    done
fi
