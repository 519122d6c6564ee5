#!/bin/sh
# What `make images` and `make images-test` need from Debian's packages: podman and buildah (with runc,
# conmon, catatonit for pods' init, netavark + aardvark-dns for the run's bridge network) and debootstrap
# for the base image. Installs whatever is missing (as root); safe to run again.
set -eu
missing=""
# netavark sets up the bridge's rules with iptables.
for tool in podman:podman buildah:buildah runc:runc debootstrap:debootstrap conmon:conmon iptables:iptables; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing="$missing ${tool#*:}"
done
[ -x /usr/libexec/catatonit/catatonit ] || [ -x /usr/bin/catatonit ] || missing="$missing catatonit"
[ -x /usr/lib/podman/netavark ] || missing="$missing netavark"
[ -x /usr/lib/podman/aardvark-dns ] || missing="$missing aardvark-dns"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing -- run: sudo apt-get install$missing" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
