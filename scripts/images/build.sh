#!/bin/sh
# Builds the service images with podman from services/<name>/Dockerfile (the files CI and skaffold use)
# on the local Python base (scripts/images/base.sh), tagged localhost/folio/<name>:local.
# Prints each image's build time and size. Usage: scripts/images/build.sh [SERVICE...] (default: all six)
set -eu
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/scripts/images/containers.conf}"
BASE=${PYTHON_IMAGE:-localhost/folio/python:3.12-slim-bookworm}
TAG=${FOLIO_IMAGE_TAG:-local}
SERVICES=${*:-storefront catalog cart payment orders assistant}

scripts/images/base.sh "$BASE"
# A host whose egress inspects TLS trusts its CA through the system store: the build sees the same store
# (read-only) and names it in SSL_CERT_FILE, an ARG of the build stage that never reaches the image.
trust=""
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    trust="-v /etc/ssl/certs:/etc/ssl/certs:ro --build-arg SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
fi
logs=.folio/images
mkdir -p "$logs"
report=""
for service in $SERVICES; do
    start=$(date +%s)
    # --network host: the build stage fetches uv.lock's wheels from PyPI (and Debian packages for the
    # assistant's compiler); the images themselves run with whatever network their pod gives them.
    # shellcheck disable=SC2086
    podman build --quiet --layers --network host $trust \
        --build-arg PYTHON_IMAGE="$BASE" \
        -f "services/$service/Dockerfile" -t "localhost/folio/$service:$TAG" . >"$logs/$service.log" 2>&1 \
        || { tail -n 30 "$logs/$service.log" >&2; echo "building $service failed: $logs/$service.log" >&2; exit 1; }
    seconds=$(( $(date +%s) - start ))
    size=$(podman image inspect --format '{{.Size}}' "localhost/folio/$service:$TAG")
    line=$(printf '%-11s %5d MB %5d s' "$service" $(( size / 1000000 )) "$seconds")
    echo "built localhost/folio/$line"
    report="$report$line\n"
done
printf 'image        size    build\n%b' "$report"
