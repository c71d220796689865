"""The hooks role: commands the operator set (``config set on-dead CMD``) run when a job's
attempt has ended and its result is recorded.

``on-complete`` after an attempt that completed its job, ``on-failure`` after every
attempt that failed (the last one included), ``on-dead`` when the job went dead. A hook
runs as ``/bin/sh -c CMD`` in a session of its own, with the job in its environment
(``QUEUECTL_JOB_ID``, ``QUEUECTL_QUEUE``, ``QUEUECTL_STATE``, ``QUEUECTL_ATTEMPT``,
``QUEUECTL_EXIT_CODE``, ``QUEUECTL_LAST_ERROR``, ``QUEUECTL_COMMAND`` …): never in the
command's text, so nothing a job holds is ever run by the shell. It is spawned and
reaped by the worker's loop like a job, never awaited: a hook still running at
``hook-timeout`` is killed with everything it started. What a hook does cannot change its
job, which is recorded before it starts; a hook that fails is one ``hook`` event in the
worker's log, with the end of what it printed.
"""

from __future__ import annotations

import os
import signal
import time

from queuectl.worker import executor
from queuectl.worker.messages import event

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from queuectl.lifecycle import Finished
    from queuectl.worker.port import QueuePort

# The hooks of a job's new state after an attempt, in the order they start.
FIRED = {
    "completed": ("on_complete",),
    "failed": ("on_failure",),
    "dead": ("on_failure", "on_dead"),
}
TAIL = 600  # bytes of a failed hook's output quoted in its event


class _Running:
    """One hook being run: its process (group), what tags its processes, its deadline
    (on the worker's clock) and the unnamed file its output goes to."""

    __slots__ = ("attempt", "deadline", "job", "killed", "name", "output", "pid", "spawned", "tag")

    def __init__(self, name: str, ended: Finished, deadline: float, output: int) -> None:
        self.name = name
        self.job = ended.job.id
        self.attempt = ended.job.runs
        self.deadline = deadline
        self.output = output
        self.pid = 0
        self.tag: tuple[bytes, ...] = ()
        self.spawned = 0.0
        self.killed = False


class Hooks:
    """The hooks of one worker process. ``env`` is the jobs' base environment (the fence's
    token included: a hook dies with its worker, as a job does); ``clock`` the worker's
    monotonic clock (a test's fake one)."""

    def __init__(
        self, port: QueuePort, env: dict[str, str], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.port = port
        self.env = env
        self.clock = clock
        self.running: list[_Running] = []

    def fire(self, ended: Finished) -> None:
        """Start the hooks of a recorded result (a worker's, or a rescue's), if any is set."""
        settings = self.port.settings
        for key in FIRED.get(ended.transition.state.value, ()):
            command = settings.hook(key)
            if command is not None:
                deadline = self.clock() + settings.hook_timeout
                self._start(_Running(key.replace("_", "-"), ended, deadline, self._scratch()),
                            command, ended)  # fmt: skip

    def _start(self, hook: _Running, command: str, ended: Finished) -> None:
        job, step = ended.job, ended.transition
        env = self.env.copy()
        env.update(
            QUEUECTL_HOOK=hook.name,
            QUEUECTL_JOB_ID=job.id,
            QUEUECTL_QUEUE=job.queue,
            QUEUECTL_STATE=step.state.value,
            QUEUECTL_ATTEMPT=str(job.runs),
            QUEUECTL_OUTCOME=ended.outcome,
            QUEUECTL_EXIT_CODE="" if step.exit_code is None else str(step.exit_code),
            QUEUECTL_LAST_ERROR=step.error or "",
            QUEUECTL_COMMAND=job.command_text(),
            QUEUECTL_LOG=ended.log_path or "",
        )
        # A tag of its own: the attempt's processes are gone, but another hook of the same
        # attempt (on-failure beside on-dead) carries the attempt's entries too.
        hook.tag = (*executor.tag_of(env), f"QUEUECTL_HOOK={hook.name}".encode())
        hook.spawned = time.monotonic()
        try:
            hook.pid = executor.spawn(["/bin/sh", "-c", command], env, hook.output)
        except executor.SpawnFailed as failure:
            os.close(hook.output)
            self._failed(hook, failure.outcome.message)
            return
        self.running.append(hook)

    def _scratch(self) -> int:
        """An unnamed file in the queue's (private) logs folder for a hook's output, gone
        once closed; /dev/null where there is none to be had."""
        try:
            return os.open(self.port.logs_dir, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError:
            return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)

    def reap(self) -> None:
        """Collect the hooks that have ended (what one left behind is killed, as a job's)."""
        for hook in list(self.running):
            ended = executor.reap(hook.pid, hook.tag, hook.spawned)
            if ended is None:
                continue
            self.running.remove(hook)
            code = os.waitstatus_to_exitcode(ended[0])
            if hook.killed:
                timeout = self.port.settings.hook_timeout
                self._failed(hook, f"killed after {timeout:g}s (hook-timeout)", _tail(hook.output))
            elif code != 0:
                how = f"exit code {code}" if code > 0 else f"killed by signal {-code}"
                self._failed(hook, how, _tail(hook.output))
            os.close(hook.output)

    def enforce(self, now: float) -> None:
        """Kill every process of a hook whose time is up (it is reaped on its SIGCHLD)."""
        for hook in self.running:
            if not hook.killed and now >= hook.deadline:
                self._kill(hook)

    def kill_all(self) -> None:
        """The worker stops now: its hooks too."""
        for hook in self.running:
            if not hook.killed:
                self._kill(hook)

    def _kill(self, hook: _Running) -> None:
        hook.killed = True
        executor.signal_attempt(hook.pid, hook.tag, hook.spawned, signal.SIGKILL)

    def wake_at(self) -> float | None:
        """The next deadline of a running hook (for the loop's timer), if any."""
        waiting = [hook.deadline for hook in self.running if not hook.killed]
        return min(waiting) if waiting else None

    def _failed(self, hook: _Running, how: str, output: str = "") -> None:
        message = f"hook {hook.name} of job {hook.job} attempt {hook.attempt} failed: {how}"
        event(
            "hook",
            message + (f" — {output}" if output else ""),
            hook=hook.name,
            job=hook.job,
            attempt=hook.attempt,
            error=how,
            output=output or None,
        )


def _tail(fd: int) -> str:
    """The end of what a hook printed, on one line ("" if it cannot be read)."""
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        text = os.pread(fd, TAIL, max(0, size - TAIL)).decode("utf-8", "replace")
    except OSError:
        return ""
    return " ".join(text.split())
