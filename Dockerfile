# syntax=docker/dockerfile:1
# Gatehouse container image. Build and run (docs/deployment.md):
#   docker build -t gatehouse .
#   docker run --rm -e DATABASE_URL=... -e DJANGO_SECRET_KEY=... gatehouse python manage.py migrate --noinput
#   docker run -d -p 8000:8000 -e DATABASE_URL=... -e DJANGO_SECRET_KEY=... gatehouse
# The same minor version the test suite runs on (tests/test_container.py holds them together).
ARG PYTHON_VERSION=3.11

# Build stage: a virtualenv with the dependencies, then the collected static files.
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when the dependencies change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt

# The application (.dockerignore keeps out the virtualenv, tests, databases and version control).
COPY . .
# Hashed, compressed static files for WhiteNoise (the key only lets settings load; nothing is signed with it), and
# the application's bytecode (the unprivileged user cannot write it, so each worker would compile it at every start).
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only-not-a-secret GATEHOUSE_ISSUER=https://build.invalid \
    GATEHOUSE_STATIC_MANIFEST=1 \
    python manage.py collectstatic --noinput -v0 \
    && python -m compileall -q /app

# Runtime stage: the virtualenv and the application, run by an unprivileged user.
FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_DEBUG=0 \
    GATEHOUSE_BIND=0.0.0.0:8000
RUN groupadd --system --gid 10001 gatehouse \
    && useradd --system --uid 10001 --gid gatehouse --no-create-home --home-dir /nonexistent gatehouse
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# Migrations are a separate one-off: `docker run --rm IMAGE python manage.py migrate --noinput`.
CMD ["gunicorn", "--config", "gunicorn.conf.py", "config.wsgi:application"]
