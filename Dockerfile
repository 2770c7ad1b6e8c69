# tensorserve as a sidecar: `docker run -p 6379:6379 tensorserve --requirepass secret`
# The install and start commands are the README's quick-start commands (CI runs those).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tensorserve ./tensorserve
RUN python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 .

EXPOSE 6379
# Listen on every interface inside the container. Protected mode (on by default, as in
# redis-server) refuses non-loopback clients until a password is set: pass
# --requirepass <password> (or --protected-mode no on a private network).
ENTRYPOINT [".venv/bin/tensorserve", "--bind", "0.0.0.0"]
