# azbatch-operator container image for Docker users: `docker build -t ghcr.io/azbatch/azbatch-operator:0.1.0 .`
# `make image` builds the same image without a Docker daemon (buildah; deploy/image/).
# Runs as a non-root user (65532) on a read-only root filesystem (see deploy/base/deployment.yaml).
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (cached while only the source changes): pyproject's runtime dependencies at
# the exact tested versions of deploy/constraints.txt (which also pins the test and dev extras).
COPY deploy/constraints.txt deploy/constraints.txt
COPY pyproject.toml README.md ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > /tmp/requirements.txt \
 && pip install --no-cache-dir -c deploy/constraints.txt -r /tmp/requirements.txt
COPY operator/ operator/
COPY simulator/ simulator/
RUN pip install --no-cache-dir --no-deps -c deploy/constraints.txt . \
 && pip check \
 && python -m compileall -q /opt/venv/lib

FROM python:3.11-slim
LABEL org.opencontainers.image.title="azbatch-operator" \
      org.opencontainers.image.source="https://github.com/azbatch/azbatch-operator" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin nonroot
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT []
CMD ["kopf", "run", "--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz", "-m", "azbatch_operator"]
