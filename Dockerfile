# opsbot: `opsbot serve` on port 3000 (POST /slack/events, /alerts/*, GET /healthz, GET /readyz).
# Mount your config at /config/ops.yaml; the SQLite database lives in the /data volume
# (set DATABASE_URL=postgresql+psycopg://... to use PostgreSQL instead). Kubernetes: deploy/, docs/deploy.md.
#
# Two stages: `build` installs exactly what uv.lock names (versions and hashes) into a venv (/opt/opsbot) that
# uv makes without pip, setuptools or wheel; `runtime` copies only that venv onto python:3.11-slim, removes the
# base image's pip and setuptools, adds tini and a non-root user. tests/test_dockerfile.py checks this shape
# without a daemon, and that uv's version here is the Makefile's (UV_VERSION).

FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/opsbot \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

RUN pip install uv==0.13.9

WORKDIR /src
# The locked dependencies first, in their own layer: a change to opsbot's code does not download them again.
# pyproject.toml names README.md as the package's long description, so it is copied too.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-editable --no-install-project
COPY bot ./bot
COPY commands ./commands
COPY integrations ./integrations
COPY schedules ./schedules
# opsbot itself as a wheel (not editable: /src stays behind). Byte code is compiled here
# (UV_COMPILE_BYTECODE): the runtime root is read-only.
RUN uv sync --locked --no-editable


FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    PATH=/opt/opsbot/bin:$PATH

# tini (Debian's) is PID 1: it forwards SIGTERM/SIGINT to opsbot and reaps zombies. opsbot also stops
# gracefully as PID 1 itself (`--entrypoint opsbot`, a Kubernetes `command:`); `docker run --init` is not needed.
# Debian's tini is not pinned: a pin breaks the build at the next Debian security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && python -m pip uninstall --yes --disable-pip-version-check pip setuptools wheel \
    && groupadd --system --gid 10001 opsbot \
    && useradd --system --uid 10001 --gid opsbot --no-create-home --home-dir /nonexistent opsbot \
    && mkdir -p /data /config \
    && chown opsbot:opsbot /data

COPY --from=build /opt/opsbot /opt/opsbot

ENV DATABASE_URL=sqlite:////data/opsbot.db \
    OPSBOT_CONFIG=/config/ops.yaml

# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
VOLUME /data
EXPOSE 3000

# `serve` and `socket` both answer GET /healthz on their HTTP port (3000 here; keep it for `socket` too).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=3)"]

# Exec form throughout: no shell between tini and opsbot to swallow the signal. `docker stop` waits 10 s
# by default; opsbot stops within 8 s (docs/deploy.md, "Stopping").
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["opsbot", "serve", "--host", "0.0.0.0", "--port", "3000"]
