# syntax=docker/dockerfile:1
# One image for every ledger process; docker-compose.yml picks the command:
#   ledger serve --host 0.0.0.0        the HTTP API and pages (the default command)
#   ledger projections run             keeps the read models current
#   ledger scheduler run               records warnings, breaches, lapses and expiries
# Configured by LEDGER_DATABASE_URL (and LEDGER_LOG_FORMAT, LEDGER_LOG_LEVEL). Runtime
# dependencies only (no dev extra, no compilers, no curl), run as a user without privileges.

# Build: the project and every runtime dependency as wheels.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels .

# Run: install those wheels, and nothing from anywhere else.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    LEDGER_LOG_FORMAT=json
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels ledger \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/ledger ledger
USER ledger
WORKDIR /home/ledger
EXPOSE 8000
ENTRYPOINT ["ledger"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
