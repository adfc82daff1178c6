"""Static files as the container image has them: collected with hashed, compressed names and served by WhiteNoise."""

import re

import pytest
from django.core.management import call_command
from django.test import override_settings

MANIFEST_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


@pytest.mark.slow  # collects and compresses every static file (seconds)
def test_collected_static_files_are_hashed_compressed_and_served_with_a_long_cache(db, client, tmp_path):
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=MANIFEST_STORAGES):
        call_command("collectstatic", "--noinput", verbosity=0)
        page = client.get("/admin/login/").content.decode()
        [stylesheet] = re.findall(r"/static/admin/css/base\.[0-9a-f]{12}\.css", page)
        response = client.get(stylesheet, HTTP_ACCEPT_ENCODING="gzip")

    assert (tmp_path / "staticfiles.json").exists()
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]
