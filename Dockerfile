# syntax=docker/dockerfile:1
# Mario's Pizzeria order worker.
# Note: no Docker engine is available on the development machines, so this
# file is written to be right but is untested there.

# ---- build: install the worker and its contracts package into /opt/venv ----
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY contracts/ contracts/
COPY client/ client/
COPY pyproject.toml README.md ./
COPY worker/ worker/
RUN pip install ./contracts ./client ".[tracing]"

# ---- runtime: just Python and the venv, as a non-root user ----
FROM python:3.11-slim

RUN groupadd --system --gid 10001 pizzeria \
    && useradd --system --uid 10001 --gid pizzeria --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin pizzeria

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIZZERIA_HTTP_HOST=0.0.0.0 \
    PIZZERIA_LOG_FORMAT=json

# /metrics, /health/live, /health/ready
EXPOSE 8080

WORKDIR /app
USER pizzeria

HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/health/ready', timeout=5)"]

CMD ["python", "-m", "worker"]
