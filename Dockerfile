# opsbot: `opsbot serve` on port 3000 (POST /slack/events, GET /healthz, GET /readyz).
# Mount your config at /config/ops.yaml; the SQLite database lives in the /data volume
# (set DATABASE_URL=postgresql+psycopg://... to use PostgreSQL instead).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MALLOC_ARENA_MAX=2

WORKDIR /app

# pyproject.toml names README.md as the package's long description, so it is copied too.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY commands ./commands
COPY integrations ./integrations
COPY schedules ./schedules
# tini (Debian's) is PID 1: it forwards SIGTERM/SIGINT to opsbot and reaps zombies. opsbot also stops
# gracefully as PID 1 itself (`--entrypoint opsbot`); `docker run --init` is not needed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir . \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent opsbot \
    && mkdir -p /data /config \
    && chown opsbot:opsbot /data

ENV DATABASE_URL=sqlite:////data/opsbot.db \
    OPSBOT_CONFIG=/config/ops.yaml

USER opsbot
VOLUME /data
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=3)"]

# Exec form throughout: no shell between tini and opsbot to swallow the signal. `docker stop` waits 10 s
# by default; opsbot stops within that (docs/deploy.md, "Stopping").
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["opsbot", "serve", "--host", "0.0.0.0", "--port", "3000"]
