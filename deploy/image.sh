#!/usr/bin/env bash
# Build a real OCI image of the service with `bentoml containerize --backend buildah`, without a Docker
# daemon or a container registry: the base image is made here with debootstrap from Debian's mirror.
# Then run it, send it the spec's /health and /predict, and write an OCI archive.
#
# Needs root (buildah, debootstrap, chroot). Settings (environment):
#   EXTRA_CA_CERTS  folder of extra CA certificates (*.crt) the build must trust, for a TLS-inspecting
#                   proxy in front of PyPI; default /usr/local/share/ca-certificates; empty = none
#   IMAGE           image name (default localhost/purchase-prediction), tagged with the model version
#   MODEL           model tag to ship (default: the production version, else the newest)
#   OCI_DIR         where buildah keeps its images (default .oci/ in the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
IMAGE=${IMAGE:-localhost/purchase-prediction}
BASE=localhost/bookworm-python:3.11
OCI_DIR=${OCI_DIR:-$ROOT/.oci}
EXTRA_CA_CERTS=${EXTRA_CA_CERTS-/usr/local/share/ca-certificates}
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo http://deb.debian.org/debian)}
say() { printf '[image %5ss] %s\n' "$SECONDS" "$*"; }

# buildah keeps everything under OCI_DIR, with the vfs driver and chroot isolation (no daemon, no overlay).
# Its temporary copies of a layer being committed too (TMPDIR, else /var/tmp, which may be small).
mkdir -p "$OCI_DIR/tmp"
cat > "$OCI_DIR/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$OCI_DIR/storage"
runroot = "$OCI_DIR/run"
EOF
export CONTAINERS_STORAGE_CONF=$OCI_DIR/storage.conf STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot TMPDIR=$OCI_DIR/tmp

if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing buildah and debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null
fi

if ! buildah images --quiet "$BASE" >/dev/null 2>&1; then
  say "making the base image $BASE with debootstrap ($MIRROR)"
  rootfs=$OCI_DIR/rootfs
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
  if [ -n "$EXTRA_CA_CERTS" ] && compgen -G "$EXTRA_CA_CERTS/*.crt" >/dev/null; then
    say "trusting the extra CA certificates in $EXTRA_CA_CERTS"
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp "$EXTRA_CA_CERTS"/*.crt "$rootfs/usr/local/share/ca-certificates/"
  fi
  env -u TMPDIR chroot "$rootfs" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip ca-certificates >/dev/null && update-ca-certificates >/dev/null && apt-get clean"
  container=$(buildah from scratch)
  mount=$(buildah mount "$container")
  cp -a "$rootfs/." "$mount/"
  buildah umount "$container" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --env UV_NATIVE_TLS=1 --cmd /bin/bash "$container"
  buildah commit --quiet "$container" "$BASE" >/dev/null
  buildah rm "$container" >/dev/null
  rm -rf "$rootfs"
fi

model=${MODEL:-$("$PY" -c "from purchase import store; print(store.default_model(None).tag)")}
model_version=${model#*:}
say "building the Bento with $model"
bento=$("$PY" -m purchase.cli.build --model "$model" --base-image "$BASE" | tail -n 1)
tag="$IMAGE:$model_version"
say "containerizing $bento as $tag"
"$ROOT/.venv/bin/bentoml" containerize "$bento" --backend buildah -t "$tag" >"$OCI_DIR/containerize.log" 2>&1 \
  || { tail -40 "$OCI_DIR/containerize.log"; df -h "$OCI_DIR"; exit 1; }  # a full disk fails as a closed pipe

say "running $tag"
port=$("$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
container=$(buildah from "$tag")
buildah run --isolation chroot "$container" -- /home/bentoml/bento/env/docker/entrypoint.sh --host 127.0.0.1 --port "$port" \
  >"$OCI_DIR/run.log" 2>&1 &
stop() {
  # SIGTERM reaches the server through `bentoml serve`, a descendant of `buildah run`.
  pkill -TERM -f "bentoml serve .*--port $port" 2>/dev/null || true
  wait 2>/dev/null || true
  buildah rm "$container" >/dev/null 2>&1 || true
}
trap stop EXIT
"$PY" deploy/smoke.py "http://127.0.0.1:$port" "$model_version" || { tail -30 "$OCI_DIR/run.log"; exit 1; }

archive=$ROOT/build/purchase-prediction-$model_version.oci.tar
say "writing $archive"
rm -f "$archive"
buildah push --quiet "$tag" "oci-archive:$archive:$tag" >/dev/null
say "done: $tag, $(du -h "$archive" | cut -f1) archive"
