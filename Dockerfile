# syntax=docker/dockerfile:1
# Synthscope images: one Dockerfile, two targets, always built from the repository root (the context is cut
# down to requirements.lock, shared/ and services/{api,worker}/ by .dockerignore):
#   docker build --target api    -t synthscope-api .
#   docker build --target worker -t synthscope-worker .
# CUDA worker image for the optional L4 GPU worker (terraform var worker_gpu = true):
#   docker build --target worker --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 \
#     -t synthscope-worker .
# cloudbuild.yaml builds both (substitution _WORKER_TORCH_INDEX_URL feeds the worker's TORCH_INDEX_URL).
#
# Stages: build (a venv: torch from TORCH_INDEX_URL first, CPU-only by default, then requirements.lock, then
# shared/ and both services without deps) -> runtime (slim base, libmagic only, no compilers or build tools,
# uid 10001, the venv copied in) -> api / worker (only the command differs). The model bundle is package data
# of synthscope (synthscope/models/**), so `pip install ./shared` bakes it in; the build stage verifies it
# against its manifest's sha256s (tests/infra/test_images.py checks the wheel carries every file).
# The torch pin must equal requirements.lock's (tests/infra/test_consistency.py checks it).

FROM python:3.11-slim AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# torch first, from its own index (the CPU build is about 1 GB smaller than the CUDA one); the lock's pin is
# then already satisfied (a local label such as +cpu or +cu128 matches torch==X.Y.Z).
RUN pip install torch==2.13.0 --index-url "${TORCH_INDEX_URL}"
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY shared/ shared/
COPY services/api/ services/api/
COPY services/worker/ services/worker/
RUN pip install --no-deps ./shared ./services/api ./services/worker \
    && python -c "import synthscope_api, synthscope_worker" \
    && python -c "from synthscope.detect import bundle; bundle.verify_bundle(bundle.default_bundle_path())"

FROM python:3.11-slim AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/opt/venv/bin:$PATH PORT=8080
# libmagic: upload sniffing (python-magic). No compilers or build tools in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1=1:5.* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin synthscope
COPY --from=build /opt/venv /opt/venv
WORKDIR /tmp
EXPOSE 8080
HEALTHCHECK NONE

# Cloud Run sets PORT; exec so the server is PID 1 and gets SIGTERM.
FROM runtime AS worker
USER 10001
CMD ["sh", "-c", "exec synthscope-worker --host 0.0.0.0 --port \"${PORT:-8080}\""]

# Last, so a plain `docker build .` gives the API.
FROM runtime AS api
USER 10001
CMD ["sh", "-c", "exec synthscope-api --host 0.0.0.0 --port \"${PORT:-8080}\""]
