#!/usr/bin/env bash
# Build the exporter image with podman and prove, from outside the container, that it serves
# /healthz and /metrics as a non-root user on a read-only root filesystem.
#
# No container registry is reachable where this project is developed, so the script first builds
# a STAND-IN for the `python:3.11-slim` base image: Debian bookworm made with debootstrap from the
# Debian mirror apt on this machine is configured with (read from its source lists by
# scripts/debian_mirror.py; no mirror is named here), plus Debian's python3 (3.11 on bookworm),
# python3-venv and python3-pip, with `python`/`pip` under /usr/local/bin like the official image
# has. It is tagged `python:3.11-slim` locally (stored as localhost/python:3.11-slim) so the
# Dockerfile builds unchanged. It is not the python.org build.
# With a registry at hand, set PROOF_USE_REGISTRY_BASE=1 to skip the stand-in.
#
# Needs root, podman, runc and debootstrap (apt-get install -y podman debootstrap runc).
# pip inside the build needs a reachable package index.
# Usage: scripts/image-proof.sh   (about 3-6 minutes cold)
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/expressconnect-exporter:proof}
# A short name: a local stand-in is found as localhost/python:3.11-slim, a pulled image as well.
BASE=python:3.11-slim
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SIM_PORT=${SIM_PORT:-$(free_port)}
EXPORTER_PORT=${EXPORTER_PORT:-$(free_port)}
TLS_PORT=${TLS_PORT:-$(free_port)}
# Per-run container names, so two runs side by side do not meet.
SIM=ece-proof-$$-sim
EXPORTER=ece-proof-$$-exporter
TLS=ece-proof-$$-tls
RUN_FLAGS=(--runtime runc --cgroup-manager cgroupfs --ulimit nofile=4096:4096
  --ulimit nproc=4096:4096 --network host --health-interval disable)
# (--health-interval disable: podman's healthcheck timers need systemd; the check is run by hand
# at the end instead. podman 4.3 still complains about the missing systemd: prun drops that line.)
prun() {
  { podman run "$@" 2>&1 1>&3 | { grep -v 'unable to get systemd connection' || true; } >&2; } 3>&1
}

step() { printf '\n== %s\n' "$*"; }

# The stand-in's packages come from the Debian mirror apt on this machine uses, read from apt's
# source lists by scripts/debian_mirror.py (which fails with one line when there is none). Its
# address is never printed: output and failure logs call it "the configured Debian mirror".
hide_mirror() {
  local mirror=$1 host line
  host=${mirror#*://}
  host=${host%%/*}
  host=${host##*@}
  while IFS= read -r line; do
    line=${line//"$mirror"/the configured Debian mirror}
    [ -z "$host" ] || line=${line//"$host"/the configured Debian mirror}
    printf '%s\n' "$line"
  done
}

build_stand_in_base() {
  local rootfs mirror
  mirror=$(python3 scripts/debian_mirror.py --suite bookworm) || exit 1
  rootfs=$(mktemp -d /var/tmp/py311-slim-rootfs.XXXXXX)
  step "building stand-in $BASE with debootstrap from the configured Debian mirror"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" >/var/tmp/image-proof-debootstrap.log 2>&1 || {
    tail -20 /var/tmp/image-proof-debootstrap.log | hide_mirror "$mirror" >&2
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
  for name in "$SIM" "$EXPORTER" "$TLS"; do
    podman rm -f -t 2 "$name" >/dev/null 2>&1 || true
  done
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

step "run the simulator and the exporter from the image (read-only root fs, no tmpfs, host loopback)"
prun -d --name "$SIM" "${RUN_FLAGS[@]}" --read-only --read-only-tmpfs=false "$IMAGE" \
  simulate --listen "127.0.0.1:$SIM_PORT" --connections 12 --regions cn-hangzhou,cn-shanghai \
  >/dev/null
prun -d --name "$EXPORTER" "${RUN_FLAGS[@]}" --read-only --read-only-tmpfs=false \
  -e SIM_SECRET=sim-access-key-secret \
  -e EXPRESSCONNECT_HEALTHCHECK_URL="http://127.0.0.1:$EXPORTER_PORT/healthz" \
  -v "$workdir/config.yml:/etc/expressconnect-exporter/config.yml:ro,Z" "$IMAGE" >/dev/null

# fetch URL [CA_FILE [USER:PASSWORD]]: prints "HTTP <status>" and the body (4xx/5xx too).
fetch() { python3 -c 'import base64, ssl, sys, urllib.error, urllib.request
url, ca, cred = (sys.argv[1:] + ["", ""])[:3]
req = urllib.request.Request(url)
if cred:
    req.add_header("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())
ctx = ssl.create_default_context(cafile=ca) if ca else None
try:
    r = urllib.request.urlopen(req, timeout=5, context=ctx)
except urllib.error.HTTPError as e:
    r = e
sys.stdout.write(f"HTTP {r.status}\n" + r.read().decode())' "$@"; }

ready=""
for _ in $(seq 1 60); do
  if [[ "$(fetch "http://127.0.0.1:$EXPORTER_PORT/readyz" 2>/dev/null)" == "HTTP 200"* ]]; then
    ready=1
    break
  fi
  [ "$(podman inspect -f '{{.State.Running}}' "$EXPORTER")" = true ] || break
  sleep 1
done
if [ -z "$ready" ]; then
  echo "FAIL: exporter never became ready" >&2
  podman logs "$EXPORTER" >&2 || true
  exit 1
fi

step "GET /healthz from the host"
health=$(fetch "http://127.0.0.1:$EXPORTER_PORT/healthz")
echo "$health"
grep -q '^HTTP 200' <<<"$health" || { echo "FAIL: /healthz is not 200" >&2; exit 1; }
step "GET /metrics from the host (region and connection series)"
metrics=$(fetch "http://127.0.0.1:$EXPORTER_PORT/metrics")
sed -n 1p <<<"$metrics"  # (not `echo | head -1`: under pipefail the SIGPIPE to echo fails the run)
grep -q '^HTTP 200' <<<"$metrics" || { echo "FAIL: /metrics is not 200" >&2; exit 1; }
echo "$metrics" | grep -E '^expressconnect_(region_up|region_physical_connections|exporter_build_info)'
connections=$(echo "$metrics" | grep -c '^expressconnect_physical_connection_info{' || true)
echo "expressconnect_physical_connection_info series: $connections"
if [ "$connections" -ne 12 ] || grep -q '^expressconnect_region_up{.*} 0' <<<"$metrics"; then
  echo "FAIL: expected 12 connections in 2 regions, both up; exporter log:" >&2
  podman logs "$EXPORTER" 2>&1 | tail -20 >&2
  exit 1
fi

step "who runs it"
podman exec "$EXPORTER" id
uid=$(podman exec "$EXPORTER" id -u)
[ "$uid" != 0 ] || { echo "FAIL: exporter runs as root" >&2; exit 1; }
podman top "$EXPORTER" user huser args
if podman exec "$EXPORTER" sh -c 'touch /tmp/x' 2>/dev/null; then
  echo "FAIL: the root filesystem is writable" >&2
  exit 1
fi
echo "root filesystem: read-only (touch /tmp/x, in the world-writable /tmp, refused)"

step "HEALTHCHECK from the image"
if ! podman healthcheck run "$EXPORTER"; then
  echo "FAIL: the image's HEALTHCHECK reports unhealthy" >&2
  exit 1
fi
echo "healthcheck: healthy"

step "TLS + basic auth from the image (--web.config.file, certificate made with openssl)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -keyout "$workdir/server.key" -out "$workdir/server.crt" -subj /CN=image-proof \
  -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
chown 10001:10001 "$workdir/server.key" && chmod 0600 "$workdir/server.key"
password=proof-$RANDOM$RANDOM
hash=$(prun --rm "${RUN_FLAGS[@]}" --entrypoint python "$IMAGE" -c \
  "import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(10)).decode())" \
  "$password")
cat >"$workdir/web-config.yml" <<YAML
tls_server_config:
  cert_file: /etc/expressconnect-exporter/tls/server.crt
  key_file: /etc/expressconnect-exporter/tls/server.key
basic_auth_users:
  prometheus: "$hash"
unauthenticated_paths: [/healthz]
YAML
sed "s/127.0.0.1:$EXPORTER_PORT/127.0.0.1:$TLS_PORT/" "$workdir/config.yml" >"$workdir/config-tls.yml"
chmod 0644 "$workdir/web-config.yml" "$workdir/config-tls.yml" "$workdir/server.crt"
prun -d --name "$TLS" "${RUN_FLAGS[@]}" --read-only --read-only-tmpfs=false \
  -e SIM_SECRET=sim-access-key-secret \
  -e EXPRESSCONNECT_HEALTHCHECK_URL="https://127.0.0.1:$TLS_PORT/healthz" \
  -v "$workdir/config-tls.yml:/etc/expressconnect-exporter/config.yml:ro,Z" \
  -v "$workdir/web-config.yml:/etc/expressconnect-exporter/web-config.yml:ro,Z" \
  -v "$workdir/server.crt:/etc/expressconnect-exporter/tls/server.crt:ro,Z" \
  -v "$workdir/server.key:/etc/expressconnect-exporter/tls/server.key:ro,Z" \
  "$IMAGE" --config /etc/expressconnect-exporter/config.yml \
  --web.config.file /etc/expressconnect-exporter/web-config.yml >/dev/null
ready=""
for _ in $(seq 1 60); do
  status=$(fetch "https://127.0.0.1:$TLS_PORT/readyz" "$workdir/server.crt" \
    "prometheus:$password" 2>/dev/null || true)
  if [[ "$status" == "HTTP 200"* ]]; then ready=1; break; fi
  [ "$(podman inspect -f '{{.State.Running}}' "$TLS")" = true ] || break
  sleep 1
done
if [ -z "$ready" ]; then
  echo "FAIL: TLS exporter never became ready" >&2
  podman logs "$TLS" >&2 || true
  exit 1
fi
echo "--- https /metrics with the right password:"
secure=$(fetch "https://127.0.0.1:$TLS_PORT/metrics" "$workdir/server.crt" "prometheus:$password")
echo "$secure" | grep -E '^(HTTP|expressconnect_region_up)'
grep -q '^HTTP 200' <<<"$secure" || { echo "FAIL: TLS scrape is not 200" >&2; exit 1; }
echo "--- https /metrics with a wrong password:"
wrong=$(fetch "https://127.0.0.1:$TLS_PORT/metrics" "$workdir/server.crt" "prometheus:wrong")
echo "$wrong"
grep -q '^HTTP 401' <<<"$wrong" || { echo "FAIL: wrong password not refused" >&2; exit 1; }
echo "--- plain http to the TLS port:"
if fetch "http://127.0.0.1:$TLS_PORT/metrics" "" "prometheus:$password" 2>/dev/null; then
  echo "FAIL: plain HTTP answered on the TLS port" >&2
  exit 1
fi
echo "refused (connection closed, no HTTP response)"
if grep -q Traceback <<<"$(podman logs "$TLS" 2>&1)"; then
  echo "FAIL: traceback in the exporter log" >&2
  exit 1
fi
if ! podman healthcheck run "$TLS"; then
  echo "FAIL: HEALTHCHECK over https reports unhealthy" >&2
  exit 1
fi
echo "healthcheck over https (unauthenticated /healthz): healthy"

step "PASS: image $IMAGE builds and serves /healthz and /metrics as uid $uid, also over TLS with basic auth"
