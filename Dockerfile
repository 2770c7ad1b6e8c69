# tensorserve as a sidecar (see README "Docker"):
#   docker build -t tensorserve .
#   docker run -p 6379:6379 -v tsdata:/data tensorserve --requirepass secret
#
# Two stages: the first runs the README's install command (CI runs the same command on
# a clean clone); the second copies only the virtual environment it made, so pip's
# cache, the source tree and anything an install needed to build stay behind.

FROM python:3.11-slim AS build
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tensorserve ./tensorserve
# The README's quick-start install, word for word (pip's cache is off so it is not
# kept in this stage's layers either).
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 .

FROM python:3.11-slim
# The venv's scripts name /app/.venv/bin/python, so it keeps its path.
COPY --from=build /app/.venv /app/.venv
# A user of its own: the server never needs root, and a model or script that escapes
# the engine should find nothing it may write but the data volume.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tensorserve \
    && mkdir -p /data && chown tensorserve:tensorserve /data
USER tensorserve
WORKDIR /data
VOLUME ["/data"]
# 6379: RESP (redis clients); 9121: the Prometheus endpoint when --metrics-port 9121.
EXPOSE 6379 9121
# PING over the socket, no redis-cli needed. Alive counts (PONG, or NOAUTH when a
# password is set: give it as REDISCLI_AUTH to the container to check AUTH too).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/app/.venv/bin/tensorserve", "ping", "--port", "6379"]
# The README's start command (its .venv is /app/.venv here), listening on every interface inside the container, with
# snapshots and the append-only log in the /data volume. Protected mode (on by default,
# as in redis-server) refuses non-loopback clients until a password is set: pass
# --requirepass <password> (or --protected-mode no on a private network).
ENTRYPOINT ["/app/.venv/bin/tensorserve", "--bind", "0.0.0.0", "--dir", "/data"]
