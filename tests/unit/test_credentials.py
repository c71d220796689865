"""Which locations carry a password, and the location a job is given instead."""

from __future__ import annotations

import pytest

from queuectl.credentials import carries_password, job_environment, without_password


@pytest.mark.parametrize(
    ("location", "bare"),
    [
        ("postgresql://queue:s3cret@db:5432/jobs", "postgresql://queue@db:5432/jobs"),
        ("postgres://queue:p%40ss@db/jobs", "postgres://queue@db/jobs"),
        ("postgresql://queue:a@b@db/jobs", "postgresql://queue@db/jobs"),
        ("postgresql://queue:pw@h1:5432,h2:5433/jobs", "postgresql://queue@h1:5432,h2:5433/jobs"),
        (
            "postgresql://queue@db/jobs?sslmode=require&password=pw",
            "postgresql://queue@db/jobs?sslmode=require",
        ),
        ("postgresql://:pw@db/jobs", "postgresql://@db/jobs"),
    ],
)
def test_a_password_is_found_and_removed(location: str, bare: str) -> None:
    assert carries_password(location)
    assert without_password(location) == bare
    assert not carries_password(bare)


@pytest.mark.parametrize(
    "location",
    [
        "postgresql://queue@db/jobs",
        "postgresql://db/jobs?sslmode=require",
        "/var/lib/queuectl/q:w@x.db",
        "sqlite:///tmp/user:pw@q.db",
    ],
)
def test_locations_without_a_password_stay_as_they_are(location: str) -> None:
    assert not carries_password(location)
    assert without_password(location) == location


def test_a_jobs_environment_keeps_the_location_and_drops_the_secrets() -> None:
    env = job_environment(
        {
            "PATH": "/bin",
            "QUEUECTL_DB": "postgresql://queue:pw@db/jobs",
            "QUEUECTL_DB_PATH": "/srv/q.db",
            "PGPASSWORD": "pw",
            "QUEUECTL_DASHBOARD_TOKEN": "t",
            "PGUSER": "queue",
        }
    )
    assert env == {
        "PATH": "/bin",
        "QUEUECTL_DB": "postgresql://queue@db/jobs",
        "QUEUECTL_DB_PATH": "/srv/q.db",
        "PGUSER": "queue",
    }
