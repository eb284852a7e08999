# The mfgsync service image, used by docker-compose.yml (`docker compose up --build`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the wheel is built from (see [tool.setuptools] in pyproject.toml): the four
# folders install as the mfgsync.* namespace.
COPY pyproject.toml README.md constraints.txt ./
COPY schemas/ schemas/
COPY operators/ operators/
COPY connectors/ connectors/
COPY flows/ flows/
# constraints.txt pins every dependency to the version the test environment (.ci/run) uses.
RUN pip install -c constraints.txt . && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /app --create-home mfgsync
WORKDIR /app
USER mfgsync
# Owned by the service user, so a named volume mounted here is writable (recovery store).
RUN mkdir -p /app/recovery

# Defaults for the compose network; override with -e / environment:.
ENV MFGSYNC_KAFKA_BOOTSTRAP=kafka:9092 \
    MFGSYNC_SCHEMA_REGISTRY_URL=http://schema-registry:8081 \
    MFGSYNC_METRICS_PORT=9464

# Prometheus metrics
EXPOSE 9464

CMD ["mfgsync", "run"]
