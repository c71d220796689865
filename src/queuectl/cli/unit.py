"""``worker unit``: a systemd service that runs ``worker start`` for this queue, as printed.

How the worker stops is what decides the unit. SIGTERM asks it to stop claiming and let
its jobs finish (a second SIGTERM would interrupt them); its jobs run in sessions of
their own, and the fence must outlive the worker to stop what it leaves. So the stop
signal goes to the worker alone (``KillMode=mixed``: with the default, systemd would
SIGTERM every process of the service at once, jobs included, before any drain), and
systemd's SIGKILL of what is left comes only after what the worker itself may take:
``stop-timeout`` for its jobs, ``kill-grace`` to stop those still running, one
``hook-timeout`` for the hooks of the last results, and a margin.
"""

from __future__ import annotations

import math
import os
import re
import sys

from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from queuectl.config import Settings
    from queuectl.location import Location

MARGIN = 15  # seconds beyond what the worker may take: results written, rows removed
RESTART_PAUSE = 5  # seconds before a worker that failed is started again
# a user systemd takes: a name (useradd's rule, with "." as systemd allows) or a uid
USER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}|\d{1,10}")
# words systemd reads as they are in ExecStart= (anything else is quoted)
_PLAIN = re.compile(r"[A-Za-z0-9/._:+=,@!-]+")


def stop_seconds(settings: Settings) -> int | None:
    """TimeoutStopSec: how long the worker may take to stop by itself, and a margin; None
    when a graceful stop waits for its jobs however long they run (stop-timeout none)."""
    limit = settings.stop_timeout
    if limit is None:
        return None
    return math.ceil(limit + settings.kill_grace + settings.hook_timeout) + MARGIN


def executable() -> list[str]:
    """The command that starts queuectl, absolute: the console script running now, else
    the one installed beside this Python, else this Python with ``-m queuectl``."""
    here = sys.argv[0] if sys.argv else ""
    if os.path.basename(here) == "queuectl" and os.access(here, os.X_OK):
        return [os.path.abspath(here)]
    import sysconfig

    beside = os.path.join(sysconfig.get_path("scripts"), "queuectl")
    if os.access(beside, os.X_OK):
        return [os.path.abspath(beside)]
    return [os.path.abspath(sys.executable), "-m", "queuectl"]


def check_user(user: str) -> str:
    if not USER_PATTERN.fullmatch(user):
        raise InvalidInput(f"--user {user[:40]!r} is not a user name systemd takes")
    return user


def render(
    where: Location,
    settings: Settings,
    *,
    user: str | None,
    count: int,
    queues: Sequence[str] | None,
    command: Sequence[str],
    home: str | None = None,
) -> str:
    """The unit's text: ``command`` (``executable()``) runs ``worker start --count COUNT``
    (and ``--queue`` each of ``queues``) as ``user`` (None: root) on ``where``, the
    location written out whole but for a password. ``home``: a QUEUECTL_HOME to keep
    (where a PostgreSQL queue's logs go; None: the user's default)."""
    from queuectl.credentials import without_password

    argv = [*command, "worker", "start", "--count", str(count)]
    for name in queues or ():
        argv += ["--queue", name]
    env = {"QUEUECTL_DB": without_password(where.target)}
    if where.is_postgres:
        env["QUEUECTL_SCHEMA"] = where.schema or "queuectl"
        if home is not None:
            env["QUEUECTL_HOME"] = home
    stop = stop_seconds(settings)
    served = ", ".join(queues) if queues else "every queue"
    lines = [
        f"# A queuectl worker of {count} slot(s) serving {served}; made by `queuectl worker unit`.",
        "# Install: copy to /etc/systemd/system/queuectl-worker.service, then",
        "#   systemctl daemon-reload && systemctl enable --now queuectl-worker",
        "[Unit]",
        f"Description={_text('queuectl worker: ' + where.shown)}",
    ]
    if where.is_postgres:
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += ["", "[Service]", "Type=exec"]
    if user is not None:
        lines.append(f"User={user}")
    lines.append("ExecStart=" + " ".join(_word(word) for word in argv))
    lines += [_assignment(name, value) for name, value in env.items()]
    if where.is_postgres:
        lines += [
            "# Secrets stay out of this file, which every user may read: put PGPASSWORD=...",
            "# (or QUEUECTL_DB=postgresql://user:password@...) in this one, mode 0600.",
            "EnvironmentFile=-/etc/queuectl/%N.env",
        ]
    lines += [
        "# SIGTERM to the worker alone: it stops claiming and lets its jobs finish. With",
        "# the default (control-group), systemd would signal the jobs too, before the drain.",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
    ]
    if stop is None:
        lines += [
            "# stop-timeout is none: a stop waits for the running jobs however long they run.",
            "# `queuectl config set stop-timeout 10m`, then make the unit again, to bound it.",
            "TimeoutStopSec=infinity",
        ]
    else:
        lines += [
            f"# stop-timeout {settings.stop_timeout:g}s + kill-grace {settings.kill_grace:g}s "
            f"+ hook-timeout {settings.hook_timeout:g}s + {MARGIN}s: the worker has",
            "# stopped (jobs interrupted go back to pending) before systemd's SIGKILL.",
            f"TimeoutStopSec={stop}",
        ]
    lines += [
        "# exit 1: a result or the queue's file was given up; start a clean worker",
        "Restart=on-failure",
        f"RestartSec={RESTART_PAUSE}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def _word(word: str) -> str:
    """One word of ExecStart=: ``%`` and ``$`` doubled (specifiers, variables), quoted
    unless it is plain."""
    word = _text(word).replace("$", "$$")
    return word if _PLAIN.fullmatch(word) else f'"{_escaped(word)}"'


def _assignment(name: str, value: str) -> str:
    """``Environment=NAME=value``, quoted whole when the value has spaces, quotes or
    backslashes (no variable is expanded there; specifiers are)."""
    entry = _text(f"{name}={value}")
    plain = not any(c.isspace() or c in "\"'\\" for c in entry)
    return f"Environment={entry}" if plain else f'Environment="{_escaped(entry)}"'


def _escaped(text: str) -> str:
    """Text to put between double quotes: backslashes and quotes escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _text(text: str) -> str:
    """Text of a unit: one line, ``%`` doubled (systemd expands specifiers nearly anywhere)."""
    if not text.isprintable():
        raise InvalidInput(f"{text[:60]!r} cannot be written in a unit (control characters)")
    return text.replace("%", "%%")
