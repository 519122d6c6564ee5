#!/bin/sh
# The local stand-in for python:3.12-slim-bookworm, for machines that reach no container registry:
# Debian bookworm (debootstrap minbase from this machine's Debian mirror) plus pyenv's CPython 3.12
# (a shared-library build) copied under /usr/local. Every Folio Dockerfile takes it as PYTHON_IMAGE.
# Built once and kept in podman's store; rebuilt only when this recipe or the interpreter changes.
# Usage: scripts/images/base.sh [TAG]   (CONTAINERS_CONF names the project's podman settings)
set -eu
TAG=${1:-localhost/folio/python:3.12-slim-bookworm}
PYTHON_SRC=${FOLIO_BASE_PYTHON:-/root/.pyenv/versions/3.12.1}
SUITE=bookworm
# The machine's own Debian mirror (deb822 sources first, then the one-line format), else Debian's CDN.
MIRROR=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-$(sed -n 's/^deb \(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# What CPython's extension modules link against (ldd over lib-dynload), plus what the slim image has.
PACKAGES=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,zlib1g,libbz2-1.0,liblzma5,libreadline8,libuuid1,libncursesw6,libexpat1,libnsl2,libtirpc3

[ -x "$PYTHON_SRC/bin/python3.12" ] || { echo "no CPython 3.12 at $PYTHON_SRC (set FOLIO_BASE_PYTHON)" >&2; exit 1; }
# The recipe: this script, the package list and the interpreter's build. Same recipe, same image: skip.
recipe=$( { cat "$0"; echo "$PACKAGES $SUITE"; "$PYTHON_SRC/bin/python3.12" -c 'import sys; print(sys.version)'; } \
    | sha256sum | cut -c1-16)
have=$(podman image inspect --format '{{index .Labels "org.folio.recipe"}}' "$TAG" 2>/dev/null || true)
if [ "$have" = "$recipe" ]; then
    echo "base $TAG is current (recipe $recipe)"
    exit 0
fi

start=$(date +%s)
root=$(mktemp -d /var/tmp/folio-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# apt inside the image (the assistant's build stage installs a compiler) sees updates and security fixes too.
cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF

# CPython under /usr/local, as in the official image; its RUNPATH names the pyenv prefix, which does not
# exist in the image, so the loader finds libpython through ldconfig's cache (/usr/local/lib).
cp -a "$PYTHON_SRC/bin" "$PYTHON_SRC/include" "$PYTHON_SRC/lib" "$root/usr/local/"
lib=$root/usr/local/lib/python3.12
# Slim: the test suite, IDLE, Tk, turtle demos, the static library and the bundled wheels go; ensurepip
# itself stays (venv imports it), and uv builds the services' environments without it.
rm -rf "$lib/test" "$lib/idlelib" "$lib/tkinter" "$lib/turtledemo" "$lib/turtle.py" "$lib/lib2to3/tests" \
    "$lib"/lib-dynload/_tkinter*.so "$lib"/config-3.12-*/libpython3.12.a "$lib/ensurepip/_bundled"/*.whl \
    "$root/usr/local/bin/idle"* "$root/usr/local/bin/2to3"* "$root/usr/local/bin/python3.12-gdb.py"
# Site-specific .pth files of the machine (its own interpreter set-up) stay out of the image.
find "$lib/site-packages" -maxdepth 1 -name '*.pth' -delete
find "$root/usr/local" -depth -name __pycache__ -type d -exec rm -rf {} +
# Scripts and build metadata name the pyenv prefix: point them at /usr/local.
grep -rlI -- "$PYTHON_SRC" "$root/usr/local/bin" "$lib"/config-3.12-* "$lib"/_sysconfigdata_*.py \
    "$root/usr/local/lib/pkgconfig" 2>/dev/null | xargs -r sed -i "s|$PYTHON_SRC|/usr/local|g"
chroot "$root" /sbin/ldconfig
chroot "$root" /usr/local/bin/python3.12 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, readline, pip'
rm -rf "$root/usr/share/doc"/* "$root/usr/share/man"/* "$root/usr/share/info"/* "$root/usr/share/locale"/* \
    "$root/var/cache/apt"/*.bin "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/* "$root/var/log"/*

tar --numeric-owner -C "$root" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PYTHON_VERSION=3.12' \
    --change "LABEL org.folio.recipe=$recipe" \
    --change 'CMD ["python3"]' \
    --quiet - "$TAG" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$TAG")
echo "base $TAG built in $(( $(date +%s) - start ))s: $(( size / 1000000 )) MB"
