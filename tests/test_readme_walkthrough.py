"""The README's walk-through, run as written (bash, curl, jq) against a live server: the front door stays true."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import live

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.slow,  # a live gunicorn and a bash subprocess
    pytest.mark.skipif(not (shutil.which("jq") and shutil.which("curl")), reason="needs jq and curl"),
]


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walk-through with curl\n", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_walkthrough_captures_ids_secrets_and_the_token_and_works():
    with live.live_database() as url:  # its own: the walk-through creates scopes other live tests may create
        server = live.start(url, workers=1)
        try:
            script = walkthrough().replace("GH=http://127.0.0.1:8000", f"GH={server.url}")
            script = script.replace(".venv/bin/python", sys.executable)
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=ROOT,
                env=live.command_env(url),
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            server.stop()
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '"active": true' in out and '"active": false' in out
    assert re.search(r"ID +ISSUED +EXPIRES +SECRET +ADDRESS +SCOPES\n\d+ .* 127\.0\.0\.1 +orders\.read\n", out)
    assert "gth_at_" not in out  # neither the token nor anything of it is printed by the recipes
