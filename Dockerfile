# One image for web, workers and beat. Build: docker compose build
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app/platform:/app \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    DOJO_VAR_DIR=/var/dojo

# bubblewrap runs participant code; util-linux gives setpriv to drop to its uid;
# libseccomp2 compiles the seccomp filter every job runs under (via pyseccomp);
# dataset-fashion-mnist is the DL101 pack's data (offline).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap util-linux libseccomp2 \
       dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
# Installed system-wide (/usr/local), which the sandbox uid can read.
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN mkdir -p /var/dojo \
    && DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build \
       python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
