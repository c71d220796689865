"""``location.locate``: a PostgreSQL queue's schema, and the URL the driver gets."""

from __future__ import annotations

import pytest

from queuectl.location import locate


def test_the_schema_parameter_is_taken_out_of_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUECTL_SCHEMA", "from_env")
    where = locate("postgresql://u:pw@h:5432/db?sslmode=require&schema=team_a&x=%2F#f")
    assert (where.target, where.schema) == (
        "postgresql://u:pw@h:5432/db?sslmode=require&x=%2F#f",
        "team_a",
    )
    assert locate("postgres://h/db?schema=team_b").target == "postgres://h/db"


def test_the_schema_is_the_url_s_else_the_environment_s_else_queuectl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("QUEUECTL_SCHEMA", raising=False)
    assert locate("postgresql://h/db").schema == "queuectl"
    monkeypatch.setenv("QUEUECTL_SCHEMA", "team_c")
    assert locate("postgresql://h/db").schema == "team_c"
    assert locate("postgresql://h/db?schema=team_a").schema == "team_a"
    assert locate("/tmp/q.db").schema is None


def test_what_a_location_shows_names_the_schema_and_no_password() -> None:
    where = locate("postgresql://u:pw@h/db?schema=team_a&password=pw2")
    assert where.shown == "postgresql://u@h/db (schema team_a)"
    assert "pw" not in repr(where) and "schema team_a" in repr(where)
    assert locate("sqlite:///tmp/q.db").shown == "/tmp/q.db"


def test_no_word_of_the_postgresql_sql_keeps_the_default_schema() -> None:
    """Every table, function and channel follows the queue's schema, in queries and in
    migrations (a trigger's body names its channel): nothing is left naming ``queuectl``."""
    from queuectl.sqlfiles import migrations, queries

    text = "\n".join([*queries("postgres", "team_a").values()])
    text += "\n".join(script for _, script in migrations("postgres", "team_a"))
    assert "queuectl" not in text
    assert '"team_a".jobs' in text and "'team_a_jobs'" in text and "'team_a_control'" in text
