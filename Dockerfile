# syntax=docker/dockerfile:1
# wanbot: the Discord bot in a container. Usage: docker-compose.yml (cp .env.example .env first).
#
# Two stages: the builder installs wanbot and its runtime dependencies (never the test extra)
# into a virtualenv; the final stage copies only that venv onto a clean slim Python, so no pip
# cache, build directory or source tree reaches the image. Both stages use the same base image
# because the venv's interpreter is a symlink to the base image's python.
# ffmpeg needs no apt package: it ships inside the imageio-ffmpeg wheel.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/wanbot
WORKDIR /src
# Only what the wheel is built from (pyproject's packages.find: bot*, cogs*, storage*; the
# README is the package's long description).
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY storage ./storage
RUN /opt/wanbot/bin/pip install .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/wanbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WANBOT_DB=/data/wanbot.db

# A fixed uid so a bind mount (./data:/data) can be prepared with `chown 10001:10001 data`.
# /data is created and chowned before VOLUME: a new named volume copies the image's ownership,
# so the bot can create its SQLite file there; otherwise the volume would be root's.
RUN groupadd --system --gid 10001 wanbot \
 && useradd --system --uid 10001 --gid wanbot --home-dir /home/wanbot --create-home \
      --shell /usr/sbin/nologin wanbot \
 && mkdir /data \
 && chown wanbot:wanbot /data

# Owned by root: the running bot cannot modify its own code.
COPY --from=builder /opt/wanbot /opt/wanbot

USER wanbot
# The working directory is the volume: relative paths (the dispatcher's data/outputs, where a
# downloaded video waits to be posted) then survive a restart, and a `.env` may live there too.
WORKDIR /data
VOLUME /data

# /healthz and /metrics. The bot binds 127.0.0.1 by default, which is enough for HEALTHCHECK
# (it runs inside the container). To let Prometheus scrape /metrics from outside, set
# WANBOT_HTTP_HOST=0.0.0.0 and publish the port (see docker-compose.yml).
EXPOSE 8080

# The probe reads WANBOT_HTTP_HOST/PORT like the bot, uses urllib (slim has no curl) and prints
# the reason when unhealthy (`docker inspect --format '{{json .State.Health}}' <container>`).
# start-period covers the Discord login and the first backend check.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.ops.probe"]

# Exec form: wanbot is PID 1 and receives SIGTERM itself (stop accepting, persist, exit). Give it
# longer than WANBOT_SHUTDOWN_GRACE before SIGKILL: `docker stop -t 45` / compose stop_grace_period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["wanbot"]
CMD ["run"]
