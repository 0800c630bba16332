#!/usr/bin/env bash
# The image's base layer as a tarball: a minimal Debian root file system (Debian's python3, the
# same 3.11 the project tests with) plus /opt/venv holding the operator's runtime dependencies at
# the exact versions of deploy/constraints.txt, and the non-root user 65532.
# Packages come from this machine's own APT sources, so no registry or mirror is named here.
#   deploy/image/build-base.sh OUT.tar REQUIREMENTS.txt CONSTRAINTS.txt
set -euo pipefail
out=$1 requirements=$2 constraints=$3
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || sources=/etc/apt/sources.list
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$requirements" "$tmp/requirements.txt"
cp "$constraints" "$tmp/constraints.txt"
# pip inside the new root trusts what this machine trusts (a TLS-inspecting proxy's CA, say),
# for the build only: the bundle is removed before the tarball is written.
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$tmp/ca.crt"
pip_env="env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/tmp PIP_CERT=/tmp/build/ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=${PIP_DEFAULT_TIMEOUT:-60}"
mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
  --include=python3,python3-venv,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --customize-hook="mkdir -p \"\$1/tmp/build\" && cp $tmp/requirements.txt $tmp/constraints.txt $tmp/ca.crt \"\$1/tmp/build/\"" \
  --customize-hook='chroot "$1" python3 -m venv /opt/venv' \
  --customize-hook="chroot \"\$1\" $pip_env pip install --quiet --no-cache-dir -c /tmp/build/constraints.txt -r /tmp/build/requirements.txt" \
  --customize-hook="chroot \"\$1\" $pip_env pip check" \
  --customize-hook='chroot "$1" /opt/venv/bin/python -m compileall -q /opt/venv/lib' \
  --customize-hook='rm -rf "$1/tmp/build" "$1/var/cache/apt"/*.bin "$1/var/lib/apt/lists"/*' \
  --customize-hook='echo "nonroot:x:65532:65532:nonroot:/tmp:/usr/sbin/nologin" >> "$1/etc/passwd"' \
  --customize-hook='echo "nonroot:x:65532:" >> "$1/etc/group"' \
  "$suite" "$out" - < "$sources"
