"""``queuectl completion bash|zsh|fish``: scripts generated from the parser; bash's is run
by a real bash, which completes as it would at a TAB."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from queuectl.cli.parser import COMMANDS
from tests.support.cli import cli, cli_ok

# bash's programmable completion as a TAB runs it: the function `complete` registered for
# queuectl, called with the words typed; what it offers is COMPREPLY, one per line
BASH = """
source "$1"; shift
spec=$(complete -p queuectl)
function=${spec##*-F }; function=${function%% *}
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$function" queuectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""


@pytest.fixture
def bash_script(home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "queuectl.bash"
    path.write_text(cli_ok(home, "completion", "bash").stdout)
    return path


def completed(script: Path, *words: str) -> list[str]:
    """What bash offers at a TAB after ``words`` (the last one being completed)."""
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH, "bash", str(script), *words],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return sorted(line for line in done.stdout.splitlines() if line)


def test_bash_completes_commands_and_subcommands(bash_script: Path) -> None:
    assert completed(bash_script, "queuectl", "wo") == ["worker"]
    assert completed(bash_script, "queuectl", "worker", "st") == ["start", "stop"]
    assert completed(bash_script, "queuectl", "--db", "/tmp/q.db", "st") == ["stats", "status"]
    assert completed(bash_script, "queuectl", "list", "--so") == ["--sort"]
    assert completed(bash_script, "queuectl", "list", "--sort", "p") == ["priority"]
    assert completed(bash_script, "queuectl", "completion", "") == ["bash", "fish", "zsh"]


def test_every_command_is_in_every_script(home: Path) -> None:
    for shell in ("bash", "zsh", "fish"):
        script = cli_ok(home, "completion", shell).stdout
        for command in COMMANDS:
            assert command in script, f"{shell}: {command}"


def test_zsh_script_is_a_completion_function(home: Path) -> None:
    script = cli_ok(home, "completion", "zsh").stdout
    assert script.startswith("#compdef queuectl")
    assert "worker" in script and "start" in script and "--sort" in script


def test_fish_script_completes_by_the_words_typed(home: Path) -> None:
    lines = cli_ok(home, "completion", "fish").stdout.splitlines()
    assert "complete -c queuectl -f" in lines  # no file names unless an option takes a path
    assert (
        "complete -c queuectl -n '__fish_use_subcommand' -a worker -d 'run, stop and list workers'"
        in lines
    )
    under_worker = [line for line in lines if "__fish_seen_subcommand_from worker;" in line]
    offered = {line.split(" -a ")[1].split()[0] for line in under_worker if " -a " in line}
    assert {"start", "stop", "list"} <= offered
    sort = next(line for line in lines if " -l sort " in line)
    assert "-x -a 'created updated priority run_at'" in sort
    assert "__fish_seen_subcommand_from list" in sort
    groups = "dlq config queue schedule worker"
    assert f"not __fish_seen_subcommand_from {groups}" in sort  # not `dlq list`
    file_option = next(line for line in lines if " -l file " in line)
    assert " -r -F" in file_option


def test_an_unknown_shell_is_a_usage_error(home: Path) -> None:
    done = cli(home, "completion", "tcsh")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
