"""The layering rule (README "Layout"): each app imports only the apps below it, function-local imports included.

The contracts live in pyproject.toml ([tool.importlinter]); `make lint` checks them too.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # a subprocess
def test_no_app_imports_a_layer_above_it_or_another_apps_views():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
