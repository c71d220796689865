"""``completion bash|zsh|fish``: a shell's completion script, generated from the parser.

The script is static: the shell completes from it without running queuectl, so
completion costs nothing at run time, ``enqueue``'s start-up included. bash and zsh
scripts come from ``shtab``; shtab writes no fish, so ``fish`` walks the same parser here.
"""

from __future__ import annotations

import argparse
import sys

from queuectl.cli import PROG

TYPE_CHECKING = False  # every command's parser is built for `--help`: no typing for it
if TYPE_CHECKING:
    from collections.abc import Iterator

SHELLS = ("bash", "zsh", "fish")
PATHS = ("FILE", "DIR", "PATH|URL")  # the metavars of options that take a path


def cmd_completion(args: argparse.Namespace) -> int:
    from queuectl.cli.parser import build_parser

    parser = build_parser()
    if args.shell == "fish":
        script = fish_script(parser)
    else:
        import shtab

        script = shtab.complete(parser, shell=args.shell)
    sys.stdout.write(script if script.endswith("\n") else script + "\n")
    return 0


# --- fish --------------------------------------------------------------------------------
def fish_script(parser: argparse.ArgumentParser) -> str:
    """``complete`` lines for fish: commands, their subcommands, and every option with its
    help, offered once the words that lead to it are typed."""
    groups = [name for name, sub in _subcommands(parser) if _subcommands(sub)]
    lines = [
        f"# fish completion for {PROG}: {PROG} completion fish > "
        f"~/.config/fish/completions/{PROG}.fish",
        f"complete -c {PROG} -f",
        *_fish_lines(parser, (), groups),
    ]
    return "\n".join(lines) + "\n"


def _fish_lines(
    parser: argparse.ArgumentParser, path: tuple[str, ...], groups: list[str]
) -> Iterator[str]:
    """The lines of the command ``path`` (``()``: the program itself). ``groups``: the
    commands that hold subcommands."""
    where = _fish_condition(path, groups)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            after = f"not __fish_seen_subcommand_from {' '.join(action.choices)}"
            for name, sub in action.choices.items():
                when = f"{where}; and {after}" if where else "__fish_use_subcommand"
                yield _complete(when, f"-a {name}", helps.get(name))
                yield from _fish_lines(sub, (*path, name), groups)
        elif action.help == argparse.SUPPRESS:
            continue
        elif action.option_strings:
            flags = [
                f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
                for flag in action.option_strings
            ]
            if action.nargs != 0:  # takes a value: a path (files offered) or not (-x)
                flags.append("-r -F" if action.metavar in PATHS else "-x")
                if action.choices:
                    flags.append(f"-a {_quoted(' '.join(map(str, action.choices)))}")
            yield _complete(where, " ".join(flags), _help(action))
        elif action.choices:  # a positional argument with choices
            yield _complete(where, f"-a {_quoted(' '.join(action.choices))}", _help(action))


def _fish_condition(path: tuple[str, ...], groups: list[str]) -> str | None:
    """When fish offers what belongs to the command ``path``: each of its words has been
    typed, and, for a command of the program itself, none of the other ``groups``:
    ``__fish_seen_subcommand_from`` sees a word anywhere, and ``list`` is also ``dlq
    list``."""
    if not path:
        return None
    seen = [f"__fish_seen_subcommand_from {word}" for word in path]
    others = [name for name in groups if name != path[0]]
    if len(path) == 1 and others:
        seen.append(f"not __fish_seen_subcommand_from {' '.join(others)}")
    return "; and ".join(seen)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    return [
        (name, sub)
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    ]


def _complete(condition: str | None, what: str, help: str | None) -> str:
    line = f"complete -c {PROG}"
    if condition:
        line += f" -n {_quoted(condition)}"
    line += f" {what}"
    if help:
        line += f" -d {_quoted(help)}"
    return line


def _help(action: argparse.Action) -> str | None:
    if not action.help:
        return None
    return action.help.replace("%(default)s", str(action.default)).replace("%%", "%")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
