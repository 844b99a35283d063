# Model server image: `python -m app` runs gunicorn on $PORT (8080) and serves /app/models/mnist, or the
# SavedModel at $MODEL_URI when set. Build and run: see docs/container.md.
#
#   docker build -t IMAGE:TAG .                      CPU image (the default target, `runtime`)
#   docker build --target gpu -t IMAGE-gpu:TAG .     NVIDIA GPU image (tensorflow[and-cuda], same version)
#
# ---- python: the environment every stage shares.
# The base is pinned by tag. Add the digest (python:3.11.14-slim-bookworm@sha256:...) where the registry is
# reachable: it could not be resolved on the offline machine this file was written on.
FROM python:3.11.14-slim-bookworm AS python
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# ---- builder: the runtime virtualenv, as pip installs it. Only requirements.txt is copied here, so source edits
# reuse this layer. --no-compile: the venv stage compiles only what the server imports.
FROM python AS builder
# pip verifies TLS against the OS CA store (as Debian's pip does) rather than its bundled certifi, so a build
# behind a TLS-intercepting proxy only needs that proxy's bundle mounted over this path (scripts/container-smoke
# does it). Build-time only: ARGs are not kept in the runtime stages.
ARG PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --no-compile -r /tmp/requirements.txt

# ---- exporter: writes the demo model with the same TensorFlow. scikit-learn never leaves this stage.
FROM builder AS exporter
WORKDIR /app
# Only scikit-learn, at the version requirements-dev.txt pins (the rest of that file is test tooling).
COPY requirements-dev.txt /tmp/requirements-dev.txt
RUN grep -E '^scikit-learn==' /tmp/requirements-dev.txt >/tmp/requirements-export.txt \
    && pip install --no-cache-dir --no-compile -r /tmp/requirements-export.txt
COPY app/ app/
COPY model_export/ model_export/
# The export is staged in a private (0700) temporary directory; the server runs as another user and must read it.
RUN python -m model_export mnist --output /app/models/mnist \
    && chmod -R a+rX /app/models

# ---- builder-gpu: the same virtualenv with GPU TensorFlow (and its CUDA wheels) instead of tensorflow-cpu,
# at the version requirements.txt pins, so the two images never drift apart.
FROM builder AS builder-gpu
RUN tf_version="$(sed -n 's/^tensorflow-cpu==//p' /tmp/requirements.txt)" \
    && test -n "${tf_version}" \
    && pip uninstall --yes tensorflow-cpu \
    && pip install --no-cache-dir --no-compile "tensorflow[and-cuda]==${tf_version}"

# ---- pruner: binutils, for `strip`. Never reaches a runtime stage: they copy only /opt/venv from venv/venv-gpu.
FROM python AS pruner
RUN apt-get update \
    && apt-get install --yes --no-install-recommends binutils=2.40-2 \
    && rm -rf /var/lib/apt/lists/*

# ---- venv, venv-gpu: the virtualenv minus what the server never loads (docs/container.md, "What the image leaves
# out", gives each cut, its size and how it was checked). The two RUNs are the same command (tests/infra checks it):
#  - packages nothing imports when serving: libclang; Keras 3 and what only it uses (h5py, rich, pygments,
#    markdown-it-py, mdurl, optree, namex): `import tensorflow` imports Keras only if it is there, and loading a
#    SavedModel does not need it; pip, setuptools and wheel last (pip removes itself);
#  - TensorFlow's and NumPy's C headers (for compiling extensions), TensorFlow's XLA AOT sources (for tfcompile)
#    and three TensorFlow shared objects that nothing loads; `tests` directories, *_test.py, type stubs,
#    static libraries;
#  - the symbol tables of shared objects (strip --strip-unneeded keeps .dynsym, all that loading and linking
#    use; native stack traces lose function names). Not those auditwheel patched (RPATH to a *.libs directory),
#    which strip can corrupt, nor NVIDIA's;
#  - bytecode for modules the server never imports: the installs ran with --no-compile, and importing what the
#    server imports writes .pyc for exactly those (without them `import tensorflow` takes twice as long).
FROM pruner AS venv
COPY --from=builder /opt/venv /opt/venv
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && pip uninstall --yes --quiet libclang keras h5py rich pygments markdown-it-py mdurl optree namex \
    && rm -rf "${site}/tensorflow/include" "${site}/tensorflow/xla_aot_runtime_src" "${site}/numpy/_core/include" \
        "${site}/tensorflow/compiler/tf2xla/ops/_xla_ops.so" \
        "${site}/tensorflow/compiler/mlir/stablehlo/stablehlo_extension.so" \
        "${site}/tensorflow/python/framework/lib_native_proto_caster.so" \
    && find "${site}" -depth \( -type d -name tests \
        -o -type f \( -name '*_test.py' -o -name '*.pyi' -o -name '*.a' \) \) -exec rm -rf {} + \
    && find "${site}" -type f -name '*.so*' ! -path '*.libs/*' ! -path '*/nvidia/*' -exec sh -c \
        'for lib; do readelf -d "${lib}" | grep -q "PATH.*\.libs" || strip --strip-unneeded "${lib}"; done' sh {} + \
    && env -u PYTHONDONTWRITEBYTECODE TF_CPP_MIN_LOG_LEVEL=3 python -c 'import tensorflow, flask, orjson, requests, \
        gunicorn.app.base, gunicorn.workers.gthread, gunicorn.glogging, prometheus_client.multiprocess, \
        google.cloud.storage, google.cloud.logging_v2.handlers, google.auth.transport.requests, \
        google.oauth2.id_token' \
    && pip uninstall --yes --quiet pip setuptools wheel

FROM pruner AS venv-gpu
COPY --from=builder-gpu /opt/venv /opt/venv
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && pip uninstall --yes --quiet libclang keras h5py rich pygments markdown-it-py mdurl optree namex \
    && rm -rf "${site}/tensorflow/include" "${site}/tensorflow/xla_aot_runtime_src" "${site}/numpy/_core/include" \
        "${site}/tensorflow/compiler/tf2xla/ops/_xla_ops.so" \
        "${site}/tensorflow/compiler/mlir/stablehlo/stablehlo_extension.so" \
        "${site}/tensorflow/python/framework/lib_native_proto_caster.so" \
    && find "${site}" -depth \( -type d -name tests \
        -o -type f \( -name '*_test.py' -o -name '*.pyi' -o -name '*.a' \) \) -exec rm -rf {} + \
    && find "${site}" -type f -name '*.so*' ! -path '*.libs/*' ! -path '*/nvidia/*' -exec sh -c \
        'for lib; do readelf -d "${lib}" | grep -q "PATH.*\.libs" || strip --strip-unneeded "${lib}"; done' sh {} + \
    && env -u PYTHONDONTWRITEBYTECODE TF_CPP_MIN_LOG_LEVEL=3 python -c 'import tensorflow, flask, orjson, requests, \
        gunicorn.app.base, gunicorn.workers.gthread, gunicorn.glogging, prometheus_client.multiprocess, \
        google.cloud.storage, google.cloud.logging_v2.handlers, google.auth.transport.requests, \
        google.oauth2.id_token' \
    && pip uninstall --yes --quiet pip setuptools wheel

# ---- runtime-base: what the CPU and GPU images share. No build tools, no pip, no scikit-learn.
FROM python AS runtime-base
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app
WORKDIR /app
# MODEL_CACHE_DIR is under /tmp so the image runs with a read-only root filesystem and a writable /tmp.
# REST_API_PORT: also listen on TF Serving's REST port, so its `docker run -p 8501:8501 -v DIR:/models/NAME
# -e MODEL_NAME=NAME` commands work unchanged against this image.
ENV PORT=8080 \
    REST_API_PORT=8501 \
    MODEL_CACHE_DIR=/tmp/model-cache
EXPOSE 8080 8501
# Liveness only (/healthz); orchestrators should gate traffic on /readyz. Python, because the image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]
CMD ["python", "-m", "app"]

# ---- gpu: `docker build --target gpu`. Cloud Run GPU (NVIDIA L4) provides the driver; the CUDA libraries come
# with the tensorflow[and-cuda] wheels. Elsewhere run with `--gpus all` and the NVIDIA container toolkit.
FROM runtime-base AS gpu
COPY --from=venv-gpu /opt/venv /opt/venv
COPY --from=exporter /app/models /app/models
COPY app/ app/
COPY model_export/ model_export/
# Allocate GPU memory as needed instead of grabbing all of it at start.
ENV TF_FORCE_GPU_ALLOW_GROWTH=true
USER 10001:10001

# ---- runtime: the default (CPU) image. Kept last so a plain `docker build` builds it.
FROM runtime-base AS runtime
COPY --from=venv /opt/venv /opt/venv
COPY --from=exporter /app/models /app/models
COPY app/ app/
COPY model_export/ model_export/
USER 10001:10001
