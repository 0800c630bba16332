#!/usr/bin/env bash
# The operator's OCI image, without a Docker daemon: buildah commits two layers, the base tarball
# (Debian + /opt/venv with the pinned dependencies, deploy/image/build-base.sh) and the operator's
# own wheel, then writes the image to an OCI archive and into the local containers storage that
# podman reads.
#   deploy/image/build-image.sh BASE.tar WHEEL IMAGE_NAME OUT.oci.tar
set -euo pipefail
base=$1 wheel=$2 name=$3 out=$4
site=/opt/venv/lib/python3.11/site-packages
tmp=$(mktemp -d)
ctr=""
cleanup() {
  [[ -z $ctr ]] || buildah rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The operator layer: the wheel's files (no dependencies: the base has them), compiled ahead of
# time because the container's root file system is read-only.
"${PYTHON:-python3}" -m pip install --quiet --no-deps --no-compile --no-index --target "$tmp/app$site" "$wheel"
"${PYTHON:-python3}" -m compileall -q -d "$site" "$tmp/app$site"
rm -rf "$tmp/app$site/bin"

ctr=$(buildah from --quiet scratch)
buildah add --quiet "$ctr" "$base" / >/dev/null
base_image=$(buildah commit --quiet --format oci --rm "$ctr" "$name-base")
ctr=$(buildah from --quiet "$base_image")
buildah add --quiet "$ctr" "$tmp/app" / >/dev/null
buildah config \
  --user 65532:65532 \
  --workingdir /tmp \
  --env PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env PYTHONUNBUFFERED=1 --env PYTHONDONTWRITEBYTECODE=1 --env HOME=/tmp \
  --port 8080 --port 9090 \
  --label org.opencontainers.image.title=azbatch-operator \
  --label org.opencontainers.image.source=https://github.com/azbatch/azbatch-operator \
  --label org.opencontainers.image.licenses=MIT \
  --label "org.opencontainers.image.version=${name##*:}" \
  --entrypoint '[]' \
  --cmd '["kopf", "run", "--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz", "-m", "azbatch_operator"]' \
  "$ctr"
previous=$(buildah images --quiet --no-trunc "$name" 2>/dev/null || true)
buildah commit --quiet --format oci --rm "$ctr" "$name" >/dev/null
ctr=""
buildah rmi "$name-base" >/dev/null 2>&1 || true
# The image this one replaces, now untagged (still in use by a container: left alone).
[[ -z $previous ]] || buildah rmi "$previous" >/dev/null 2>&1 || true
rm -f "$out"
buildah push --quiet "$name" "oci-archive:$out:$name"
