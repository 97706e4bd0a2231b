#!/usr/bin/env bash
# Build the exporter image with podman and prove, from outside the container, that it serves
# /healthz and /metrics as a non-root user on a read-only root filesystem.
#
# No container registry is reachable where this project is developed, so the script first builds
# a STAND-IN for the `python:3.11-slim` base image: Debian bookworm made with debootstrap from the
# Debian mirror apt is configured with, plus Debian's python3 (3.11 on bookworm) and python3-venv,
# with `python`/`pip` symlinks under /usr/local/bin like the official image has. It is tagged
# `python:3.11-slim` locally so the Dockerfile builds unchanged. It is not the python.org build.
# With a registry at hand, set PROOF_USE_REGISTRY_BASE=1 to skip the stand-in.
#
# Needs root, podman, runc and debootstrap (apt-get install -y podman debootstrap runc).
# pip inside the build needs PyPI. Usage: scripts/image-proof.sh   (about 3-6 minutes cold)
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/expressconnect-exporter:proof}
BASE=docker.io/library/python:3.11-slim
SIM_PORT=${SIM_PORT:-19080}
EXPORTER_PORT=${EXPORTER_PORT:-19756}
RUN_FLAGS=(--runtime runc --cgroup-manager cgroupfs --ulimit nofile=4096:4096
  --ulimit nproc=4096:4096 --network host --health-interval disable)
# (--health-interval disable: podman's healthcheck timers need systemd; the check is run by hand
# at the end instead. podman 4.3 still complains about the missing systemd: prun drops that line.)
prun() {
  { podman run "$@" 2>&1 1>&3 | { grep -v 'unable to get systemd connection' || true; } >&2; } 3>&1
}

step() { printf '\n== %s\n' "$*"; }

debian_mirror() {
  # The first deb URI of the bookworm suite in apt's configuration (deb822 or one-line format).
  local uri
  uri=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

build_stand_in_base() {
  local rootfs mirror
  mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
  rootfs=$(mktemp -d /var/tmp/py311-slim-rootfs.XXXXXX)
  step "building stand-in $BASE with debootstrap from $mirror"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" >/var/tmp/image-proof-debootstrap.log 2>&1 || {
    tail -20 /var/tmp/image-proof-debootstrap.log >&2
    exit 1
  }
  # The official image has python, python3 and pip on PATH under /usr/local/bin.
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python3"
  printf '#!/bin/sh\nexec /usr/bin/python3 -m pip "$@"\n' >"$rootfs/usr/local/bin/pip"
  chmod 0755 "$rootfs/usr/local/bin/pip"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    --message "stand-in for python:3.11-slim (Debian bookworm python3, not python.org)" \
    - "$BASE"
  rm -rf "$rootfs"
}

cleanup() {
  podman rm -f ece-proof-exporter ece-proof-sim >/dev/null 2>&1 || true
  rm -rf "${workdir:-}"
}
trap cleanup EXIT

if [ -z "${PROOF_USE_REGISTRY_BASE:-}" ] && ! podman image exists "$BASE"; then
  build_stand_in_base
fi
step "base image"
podman image inspect --format '{{.RepoTags}} {{.Comment}}' "$BASE" 2>/dev/null \
  || podman image inspect --format '{{.RepoTags}}' "$BASE"
prun --rm "${RUN_FLAGS[@]}" "$BASE" python --version

# Behind a TLS-intercepting proxy pip needs its CA: passed as a build secret, never a layer.
build_flags=()
pip_ca=${PIP_CA:-${PIP_CERT:-${SSL_CERT_FILE:-}}}
if [ -n "$pip_ca" ] && [ -s "$pip_ca" ]; then
  build_flags+=(--secret "id=pip_ca,src=$pip_ca")
fi

step "podman build (hadolint-clean Dockerfile, --format docker keeps HEALTHCHECK)"
podman build --isolation chroot --network host --format docker --pull=never "${build_flags[@]}" \
  -t "$IMAGE" . >/var/tmp/image-proof-build.log 2>&1 || {
  tail -30 /var/tmp/image-proof-build.log >&2
  exit 1
}
grep -E '^(\[[0-9]/[0-9]\] STEP|Successfully tagged)' /var/tmp/image-proof-build.log | cut -c1-110
podman image exists "$IMAGE"
podman image inspect --format 'image size: {{.Size}} bytes; user: {{.Config.User}}; entrypoint: {{.Config.Entrypoint}}; cmd: {{.Config.Cmd}}; healthcheck: {{.HealthCheck.Test}}' "$IMAGE"

step "no compilers in the final image"
if prun --rm "${RUN_FLAGS[@]}" --entrypoint sh "$IMAGE" -c 'command -v gcc cc make'; then
  echo "FAIL: a compiler is present in the final image" >&2
  exit 1
fi
echo "ok: no gcc, cc or make"

workdir=$(mktemp -d)
cat >"$workdir/config.yml" <<YAML
web:
  listen_address: "127.0.0.1:$EXPORTER_PORT"
refresh:
  interval: 30s
  timeout: 20s
api:
  endpoint: http://127.0.0.1:$SIM_PORT
accounts:
  - name: proof
    credentials:
      type: access_key
      access_key_id: sim-access-key-id
      access_key_secret: \${SIM_SECRET}
    regions: [cn-hangzhou, cn-shanghai]
YAML
chmod 0644 "$workdir/config.yml"

step "run the simulator and the exporter from the image (read-only root fs, host loopback)"
prun -d --name ece-proof-sim "${RUN_FLAGS[@]}" --read-only "$IMAGE" \
  simulate --listen "127.0.0.1:$SIM_PORT" --connections 12 --regions cn-hangzhou,cn-shanghai \
  >/dev/null
prun -d --name ece-proof-exporter "${RUN_FLAGS[@]}" --read-only \
  -e SIM_SECRET=sim-access-key-secret \
  -e EXPRESSCONNECT_HEALTHCHECK_URL="http://127.0.0.1:$EXPORTER_PORT/healthz" \
  -v "$workdir/config.yml:/etc/expressconnect-exporter/config.yml:ro,Z" "$IMAGE" >/dev/null

fetch() { python3 -c 'import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=5)
sys.stdout.write(f"HTTP {r.status}\n" + r.read().decode())' "$1"; }

ready=""
for _ in $(seq 1 60); do
  if fetch "http://127.0.0.1:$EXPORTER_PORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
  [ "$(podman inspect -f '{{.State.Running}}' ece-proof-exporter)" = true ] || break
  sleep 1
done
if [ -z "$ready" ]; then
  echo "FAIL: exporter never became ready" >&2
  podman logs ece-proof-exporter >&2 || true
  exit 1
fi

step "GET /healthz from the host"
fetch "http://127.0.0.1:$EXPORTER_PORT/healthz"; echo
step "GET /metrics from the host (region and connection series)"
metrics=$(fetch "http://127.0.0.1:$EXPORTER_PORT/metrics")
echo "$metrics" | head -1
echo "$metrics" | grep -E '^expressconnect_(region_up|region_physical_connections|exporter_build_info)'
connections=$(echo "$metrics" | grep -c '^expressconnect_physical_connection_info{' || true)
echo "expressconnect_physical_connection_info series: $connections"
[ "$connections" -eq 12 ] || { echo "FAIL: expected 12 connections" >&2; exit 1; }
echo "$metrics" | grep -q '^expressconnect_region_up{.*} 1' || { echo "FAIL: no region up" >&2; exit 1; }

step "who runs it"
podman exec ece-proof-exporter id
uid=$(podman exec ece-proof-exporter id -u)
[ "$uid" != 0 ] || { echo "FAIL: exporter runs as root" >&2; exit 1; }
podman top ece-proof-exporter user huser args

step "HEALTHCHECK from the image"
if ! podman healthcheck run ece-proof-exporter; then
  echo "FAIL: the image's HEALTHCHECK reports unhealthy" >&2
  exit 1
fi
echo "healthcheck: healthy"

step "PASS: image $IMAGE builds and serves /healthz and /metrics as uid $uid"
