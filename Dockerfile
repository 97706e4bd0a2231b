# expressconnect-exporter container image.
#
# Two stages: the builder makes a wheel of this project and installs it with its dependencies into
# a virtual environment; the final stage copies only that venv onto a fresh python:3.11-slim, so
# no compiler, pip cache or source tree ends up in the image. Runs as uid/gid 10001 (non-root).
#
#   podman build --format docker -t expressconnect-exporter .   # docker build works the same
#   docker run -p 9756:9756 -v $PWD/config.yml:/etc/expressconnect-exporter/config.yml:ro \
#     -e ALIBABA_CLOUD_ACCESS_KEY_ID -e ALIBABA_CLOUD_ACCESS_KEY_SECRET expressconnect-exporter

FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# exporter/data/runbooks.md links to it: the wheel takes its content.
COPY docs/runbooks.md ./docs/runbooks.md

# Behind a TLS-intercepting proxy, hand pip the proxy's CA bundle as a build secret (never a
# layer): --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --upgrade "pip>=24" \
    && /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-cache-dir /wheels/*.whl \
    && /opt/venv/bin/expressconnect-exporter --version


FROM python:3.11-slim

LABEL org.opencontainers.image.title="expressconnect-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Alibaba Cloud Express Connect physical connections" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid so Kubernetes runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 exporter \
    && useradd --system --uid 10001 --gid exporter --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin exporter \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/expressconnect-exporter

COPY --from=builder /opt/venv /opt/venv
COPY deploy/docker/config.yml /etc/expressconnect-exporter/config.yml

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    EXPRESSCONNECT_HEALTHCHECK_URL="http://127.0.0.1:9756/healthz"

USER 10001:10001
WORKDIR /var/lib/expressconnect-exporter
EXPOSE 9756

# No curl in the image: the stdlib does the request. With TLS, set EXPRESSCONNECT_HEALTHCHECK_URL
# to https://127.0.0.1:9756/healthz (the certificate is not verified for this loopback probe) and
# list /healthz in the web config's unauthenticated_paths when basic auth is on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, ssl, sys, urllib.request as u; c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE; sys.exit(0 if u.urlopen(os.environ['EXPRESSCONNECT_HEALTHCHECK_URL'], timeout=4, context=c).status == 200 else 1)"]

ENTRYPOINT ["expressconnect-exporter"]
CMD ["--config", "/etc/expressconnect-exporter/config.yml"]
