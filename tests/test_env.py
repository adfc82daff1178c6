"""config/env.py: the typed readers settings and gunicorn.conf.py share; a bad value names its variable."""

from ipaddress import ip_network

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_choice, env_int, env_networks, log_format


def test_networks_are_parsed_once_and_a_bad_one_names_the_variable(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_METRICS_NETWORKS", "10.0.0.0/8, ::1")
    assert env_networks("GATEHOUSE_METRICS_NETWORKS", []) == [ip_network("10.0.0.0/8"), ip_network("::1/128")]
    monkeypatch.setenv("GATEHOUSE_METRICS_NETWORKS", "10.0.0.0/33")
    with pytest.raises(ImproperlyConfigured, match="GATEHOUSE_METRICS_NETWORKS must be IP addresses or CIDRs"):
        env_networks("GATEHOUSE_METRICS_NETWORKS", [])


@pytest.mark.parametrize(
    ("raw", "says"),
    [("x", "must be a whole number, got 'x'"), ("0", "must be at least 1, got 0"), ("9", "must be between 1 and 5")],
)
def test_whole_numbers_out_of_bounds_name_the_variable(monkeypatch, raw, says):
    monkeypatch.setenv("GATEHOUSE_X", raw)
    maximum = 5 if raw == "9" else None
    with pytest.raises(ImproperlyConfigured, match=f"GATEHOUSE_X {says}"):
        env_int("GATEHOUSE_X", 1, minimum=1, maximum=maximum)


def test_log_format_is_json_unless_debugging_and_refuses_anything_else(monkeypatch):
    monkeypatch.delenv("GATEHOUSE_LOG_FORMAT", raising=False)
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    assert log_format() == "json"
    monkeypatch.setenv("DJANGO_DEBUG", "1")
    assert log_format() == "text"
    monkeypatch.setenv("GATEHOUSE_LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured, match="GATEHOUSE_LOG_FORMAT must be json or text"):
        log_format()
    assert env_choice("GATEHOUSE_UNSET_CHOICE", ("a", "b"), "b") == "b"
