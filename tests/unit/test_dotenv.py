"""The dotenv format of ``enqueue --env-file`` (queuectl.dotenv; README, "The job's
environment"), the place of its variables below the job's own (jobspec.with_flags), and
what a ``--clean-env`` job keeps of the worker's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from queuectl.credentials import clean_environment, job_environment
from queuectl.dotenv import parse, read_env_files
from queuectl.errors import InvalidInput
from queuectl.jobspec import ENV_FILE, check_job, with_flags

NOW = 1_800_000_000.0


def test_assignments_comments_and_blank_lines() -> None:
    text = (
        "# a comment\n"
        "\n"
        "   \t\n"
        "PLAIN=value\n"
        "export EXPORTED=1\n"
        "  SPACED  =  around the equals sign  \n"
        "EMPTY=\n"
        "EMPTY_TOO= # only a comment\n"
        "HASH=a#b\n"
        "COMMENTED=value # the comment\n"
        "  # an indented comment\n"
        "DOLLAR=$HOME and ${PATH} stay as they are\n"
        "BACKSLASH=C:\\dir\\n\n"
        "export_not_a_keyword=x\n"
    )
    assert parse(text, "f") == {
        "PLAIN": "value",
        "EXPORTED": "1",
        "SPACED": "around the equals sign",
        "EMPTY": "",
        "EMPTY_TOO": "",
        "HASH": "a#b",
        "COMMENTED": "value",
        "DOLLAR": "$HOME and ${PATH} stay as they are",
        "BACKSLASH": "C:\\dir\\n",
        "export_not_a_keyword": "x",
    }


def test_single_quotes_keep_everything_as_written() -> None:
    text = "A='  $x \\n \"q\" # not a comment  '\nB='two\nlines'  # after\nC=''\n"
    assert parse(text, "f") == {"A": '  $x \\n "q" # not a comment  ', "B": "two\nlines", "C": ""}


def test_double_quotes_take_the_usual_escapes() -> None:
    text = 'A="tab\\tnew\\nret\\rquote\\" slash\\\\ dollar\\$"\nB="other \\q kept"\nC="a\nb"\n'
    assert parse(text, "f") == {
        "A": 'tab\tnew\nret\rquote" slash\\ dollar$',
        "B": "other \\q kept",
        "C": "a\nb",
    }


def test_a_later_assignment_wins_and_line_endings_and_bom_are_read() -> None:
    assert parse("\ufeffA=1\r\nB=2\r\nA=3\r\n", "f") == {"A": "3", "B": "2"}
    assert parse("A=1", "f") == {"A": "1"}  # no newline at the end
    assert parse("", "f") == {}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("A=1\nJUST_A_NAME\n", "f.env, line 2: expected NAME=value, got 'JUST_A_NAME'"),
        ("export\n", "f.env, line 1: expected NAME=value"),
        ("9LIVES=x\n", "f.env, line 1: invalid variable name '9LIVES'"),
        ("A B=x\n", "f.env, line 1: invalid variable name 'A B'"),
        ("A-B=x\n", "f.env, line 1: invalid variable name 'A-B'"),
        ("A='open\nB=1\n", "f.env, line 1: a single quote is never closed"),
        ('A=1\nB="open\nC=1\n', "f.env, line 2: a double quote is never closed"),
        ('A="x"y\n', "f.env, line 1: unexpected 'y' after the closing quote"),
        ('A="multi\nline"\nB\n', "f.env, line 3: expected NAME=value"),
        ("A=nul\x00\n", "f.env, line 1: a value must not contain NUL bytes"),
    ],
)
def test_a_bad_line_is_refused_naming_the_file_and_the_line(text: str, said: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(text, "f.env")
    assert str(refused.value).startswith(said)
    assert "\n" not in str(refused.value)


def test_files_are_read_in_order_a_later_one_winning(tmp_path: Path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("A=1\nB=1\n")
    second.write_text("B=2\n")
    assert read_env_files([str(first), str(second)]) == {"A": "1", "B": "2"}
    with pytest.raises(InvalidInput, match="no such file"):
        read_env_files([str(tmp_path / "missing.env")])
    (tmp_path / "latin1.env").write_bytes(b"A=\xe9\n")
    with pytest.raises(InvalidInput, match="cannot read"):
        read_env_files([str(tmp_path / "latin1.env")])
    with pytest.raises(InvalidInput, match="cannot read"):
        read_env_files([str(tmp_path)])  # a folder


def test_the_file_s_variables_go_below_the_job_s_env() -> None:
    below: dict[str, object] = {ENV_FILE: {"A": "file", "B": "file"}}
    job = with_flags({"command": "true", "env": {"B": "json"}}, below)
    assert job == {"command": "true", "env": {"A": "file", "B": "json"}}
    assert with_flags({"command": "true"}, below) == {
        "command": "true",
        "env": {"A": "file", "B": "file"},
    }
    flags = {**below, "env": {"B": "flag"}}  # --env beside --env-file
    assert with_flags({"command": "true"}, flags) == {
        "command": "true",
        "env": {"A": "file", "B": "flag"},
    }
    with pytest.raises(InvalidInput, match="env must be an object"):
        check_job(with_flags({"command": "true", "env": "A=1"}, below), NOW)
    assert check_job(with_flags({"command": "true"}, below), NOW)["env"] == {
        "A": "file",
        "B": "file",
    }


def test_clean_env_is_a_boolean() -> None:
    assert check_job({"command": "true", "clean_env": True}, NOW)["clean_env"] is True
    assert check_job({"command": "true", "clean_env": None}, NOW)["clean_env"] is False
    with pytest.raises(InvalidInput, match="clean_env must be true or false"):
        check_job({"command": "true", "clean_env": "yes"}, NOW)


def test_a_clean_environment_keeps_path_home_lang_tz_and_what_it_is_told() -> None:
    worker = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "QUEUECTL_DB": "postgresql://u@h/db",
        "QUEUECTL_FENCE": "token",
        "PGPASSWORD": "secret",
    }
    base = job_environment(worker)
    assert clean_environment(base, ("QUEUECTL_FENCE",)) == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "QUEUECTL_FENCE": "token",
    }  # TZ: where the worker has none, neither has the job
