"""Settings: key aliases, value validation, defaults and the heartbeat/lease relation."""

from __future__ import annotations

import pytest

from queuectl.config import SETTINGS, Settings, canonical_key, check_consistent, validate
from queuectl.errors import InvalidInput

DEFAULTS = {
    "max_retries": "3",
    "backoff_base": "2",
    "max_backoff": "3600",
    "job_timeout": "none",
    "kill_grace": "5",
    "stop_timeout": "none",
    "lease": "30",
    "heartbeat": "5",
    "poll_interval": "2",
    "log_tail_bytes": "16384",
    "durability": "full",
    "no_retry_on": "none",
    "backoff_jitter": "0",
    "snooze_exit_code": "none",
    "snooze_delay": "60",
    "max_snoozes": "10",
    "on_complete": "none",
    "on_failure": "none",
    "on_dead": "none",
    "hook_timeout": "30",
    "max_log_bytes": "67108864",
    "keep_output": "tail",
    "live_output_bytes": "1048576",
    "retention_completed": "604800",
    "retention_cancelled": "604800",
    "retention_dead": "none",
}


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("max-retries", "max_retries"),
        ("max_retries", "max_retries"),
        ("MAX-RETRIES", "max_retries"),
        (" backoff-base ", "backoff_base"),
        ("log-tail-bytes", "log_tail_bytes"),
        ("poll_interval", "poll_interval"),
    ],
)
def test_kebab_and_snake_case_name_the_same_key(key: str, name: str) -> None:
    assert canonical_key(key) == name


@pytest.mark.parametrize("key", ["retries", "max retries", "", "max__retries", "lease-time"])
def test_unknown_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput, match="unknown config key"):
        canonical_key(key)
    with pytest.raises(InvalidInput):
        validate(key, "1")


def test_defaults() -> None:
    assert {key: default for key, (default, _, _) in SETTINGS.items()} == DEFAULTS
    assert Settings({}).raw() == DEFAULTS


def test_defaults_are_consistent_and_valid() -> None:
    check_consistent({})
    for key, default in DEFAULTS.items():
        assert validate(key, default) == (key, default)


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("max-retries", "5", "5"),
        ("max_retries", " 0 ", "0"),
        ("max-retries", "1000", "1000"),
        ("backoff-base", "2", "2"),
        ("backoff-base", "1.5", "1.5"),
        ("backoff-base", "3.0", "3"),
        ("max-backoff", "1h", "3600"),
        ("max-backoff", "90", "90"),
        ("job-timeout", "5m", "300"),
        ("job-timeout", "none", "none"),
        ("job-timeout", "off", "none"),
        ("job-timeout", "0", "none"),
        ("kill-grace", "500ms", "0.5"),
        ("lease", "2m", "120"),
        ("heartbeat", "1.5s", "1.5"),
        ("poll-interval", "100ms", "0.1"),
        ("log-tail-bytes", "0", "0"),
        ("durability", "NORMAL", "normal"),
        ("durability", "off", "off"),
        ("max-log-bytes", "64k", "65536"),
        ("max-log-bytes", "8192", "8192"),
        ("max-log-bytes", "1G", "1073741824"),
        ("max-log-bytes", "none", "none"),
        ("max-log-bytes", "0", "none"),
        ("keep-output", "FULL", "full"),
        ("keep-output", "tail", "tail"),
        ("live-output-bytes", "256k", "262144"),
        ("retention-completed", "7d", "604800"),
        ("retention-cancelled", "12h", "43200"),
        ("retention-dead", "30d", "2592000"),
        ("retention-dead", "none", "none"),
        ("retention-completed", "Forever", "none"),
        ("retention-completed", "1.5s", "1.5"),
    ],
)
def test_good_values_are_stored_in_canonical_form(key: str, value: str, stored: str) -> None:
    assert validate(key, value) == (canonical_key(key), stored)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max-retries", "lots"),
        ("max-retries", "-1"),
        ("max-retries", "1001"),
        ("max-retries", "2.5"),
        ("max-retries", ""),
        ("max-retries", "1" * 101),
        ("max-retries", "3\x00"),
        ("backoff-base", "0.5"),
        ("backoff-base", "nan"),
        ("backoff-base", "inf"),
        ("backoff-base", "1001"),
        ("backoff-base", "two"),
        ("max-backoff", "-1"),
        ("max-backoff", "forever"),
        ("job-timeout", "0.0001"),
        ("job-timeout", "soon"),
        ("lease", "1"),
        ("lease", "abc"),
        ("heartbeat", "0.1"),
        ("poll-interval", "0"),
        ("log-tail-bytes", "2000000"),
        ("durability", "sometimes"),
        ("max-log-bytes", "100"),
        ("max-log-bytes", "lots"),
        ("max-log-bytes", "-1"),
        ("max-log-bytes", "64x"),
        ("keep-output", "all"),
        ("live-output-bytes", "none"),
        ("live-output-bytes", "100"),
        ("max-log-bytes", "²"),
        ("retention-completed", "0"),
        ("retention-completed", "500ms"),
        ("retention-cancelled", "-1d"),
        ("retention-dead", "keep"),
        ("retention-dead", "2y"),
    ],
)
def test_bad_values_are_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate(key, value)
    message = str(raised.value)
    assert key in message
    assert "\n" not in message


def test_settings_are_typed() -> None:
    settings = Settings({"max_retries": "5", "job_timeout": "300", "backoff_base": "1.5"})
    assert settings.max_retries == 5
    assert settings.job_timeout == 300.0
    assert settings.backoff_base == 1.5
    assert Settings({}).max_log_bytes == 64 << 20
    assert Settings({"max_log_bytes": "none"}).max_log_bytes == 0
    assert settings.lease == 30.0
    assert settings.heartbeat == 5.0
    assert settings.durability == "full"
    assert Settings({}).job_timeout is None


@pytest.mark.parametrize(
    "values",
    [
        {"heartbeat": "15"},  # exactly half the default lease
        {"lease": "10"},  # default heartbeat 5 s
        {"lease": "3", "heartbeat": "1"},
        {"lease": "120", "heartbeat": "60"},
    ],
)
def test_heartbeat_that_fits_twice_in_the_lease_is_consistent(values: dict[str, str]) -> None:
    check_consistent(values)


@pytest.mark.parametrize(
    "values",
    [
        {"heartbeat": "16"},
        {"lease": "9"},
        {"lease": "3", "heartbeat": "2"},
        {"lease": "60", "heartbeat": "60"},
    ],
)
def test_heartbeat_longer_than_half_the_lease_is_refused(values: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="heartbeat"):
        check_consistent(values)


def test_retention_per_final_state() -> None:
    settings = Settings({"retention_completed": "3600", "retention_dead": "86400"})
    assert settings.retention("completed") == 3600.0
    assert settings.retention("cancelled") == 604800.0  # 7 days by default
    assert settings.retention("dead") == 86400.0
    assert Settings({}).retention("dead") is None  # dead jobs are kept unless set


def test_the_output_kept_in_the_queue_is_live_output_bytes_or_with_full_the_logs_bound() -> None:
    assert Settings({}).output_bound == 1 << 20
    assert Settings({"live_output_bytes": "65536"}).output_bound == 65536
    assert Settings({"keep_output": "full"}).output_bound == 64 << 20
    assert Settings({"keep_output": "full", "max_log_bytes": "none"}).output_bound == 0
