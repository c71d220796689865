"""One ``worker start`` process, composed of its roles and run from start to exit.

- ``slot.Slot``: one attempt at a time, from spawn to outcome;
- ``lease.Lease``: heartbeats, the fence, the rescue;
- ``results.Results``: ended attempts on their way into the queue;
- ``housekeeping.Housekeeping``: retention passes (roll-ups, purges, leftover files);
- ``hooks.Hooks``: the commands set to run when a result is recorded (config on-dead …);
- ``loop.Loop``: the select() loop that drives them (wake, turn, sleep).

They reach the queue only through a ``port.QueuePort``.
"""

from __future__ import annotations

import os
import time

from queuectl.errors import QueuectlError
from queuectl.identity import hostname, process_start
from queuectl.jobspec import check_queues
from queuectl.worker.confine import Confinement
from queuectl.worker.executor import become_subreaper
from queuectl.worker.hooks import Hooks
from queuectl.worker.housekeeping import Housekeeping
from queuectl.worker.lease import Identity, Lease
from queuectl.worker.loop import Loop
from queuectl.worker.messages import TEXT, configure, event, say
from queuectl.worker.results import Results
from queuectl.worker.slot import Slot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from queuectl.worker.port import QueuePort


class Runner:
    """``count`` slots serving ``queues`` (None: all); ``burst``: exit once drained;
    ``log_format``: how its events are written (worker.messages); ``confinement``: how
    limits are enforced (None: detected, worker.confine)."""

    def __init__(
        self,
        port: QueuePort,
        count: int,
        queues: Sequence[str] | None,
        burst: bool,
        clock: Callable[[], float] = time.monotonic,
        log_format: str = TEXT,
        confinement: Confinement | None = None,
    ) -> None:
        from queuectl.credentials import job_environment

        self.port = port
        self.burst = burst
        host, pid = hostname(), os.getpid()
        configure(log_format, host)
        self.name = f"{host}:{pid}"
        self.queues = check_queues(queues) if queues else None  # NAME…, or !NAME…
        # how attempts with limits are held to them (a cgroup subtree of its own, or rlimits)
        self.confinement = confinement if confinement is not None else Confinement.detect()
        self.slots = [
            Slot(f"{self.name}:{n}", port.logs_dir, clock, self.confinement)
            for n in range(1, count + 1)
        ]
        env = job_environment(os.environ)  # the jobs' base, copied once: no queue secrets
        me = Identity(host, pid, process_start(pid), self.queues)
        self.lease = Lease(port, self.slots, me, env, clock)
        self.hooks = Hooks(port, env, clock)
        self.results = Results(port, clock, recorded=self.hooks.fire)
        self.housekeeping = Housekeeping(port, self.lease.here, clock)
        output = None
        if port.live_output:  # PostgreSQL: output is read from other hosts too
            from queuectl.worker.output import OutputCopier

            output = OutputCopier(port, clock)
        self.loop = Loop(
            port,
            self.slots,
            self.lease,
            self.results,
            self.queues,
            burst,
            env,
            clock,
            housekeeping=self.housekeeping,
            hooks=self.hooks,
            output=output,
        )

    def run(self) -> int:
        """Serve until stopped (or drained, in burst mode). → the exit status
        (``exit_code``)."""
        self.loop.listen()
        become_subreaper()  # what a job leaves running is reaped, and counted, here
        self.lease.start_fence()
        self.lease.register()
        queues = ", ".join(self.queues) if self.queues else "all"
        message = f"worker {self.name} started: {len(self.slots)} slot(s), queues: {queues}"
        event(
            "started",
            message,
            worker=self.name,
            pid=os.getpid(),
            slots=len(self.slots),
            queues=self.queues,
            burst=self.burst,
        )
        try:
            try:
                ids = [slot.worker_id for slot in self.slots]
                self.port.adopt_orphans(self.lease.here(), ids)  # output of dead workers
            except QueuectlError as exc:
                say(f"could not attach the output of dead workers: {exc}")
            self.loop.heartbeat()
            self.housekeeping.run()  # retention's first pass, then about once a minute
            self.loop.run()
        finally:
            for slot in self.slots:
                slot.log.remove()
            self.lease.close_fence()
            self.confinement.close()
            try:
                self.lease.unregister()
            except QueuectlError as exc:
                say(f"could not remove worker rows: {exc}")
            code = self.exit_code()
            dead = self.results.dead
            why = f": {dead} job(s) it ran ended dead" if self.burst and dead else ""
            message = f"worker {self.name} stopped{why}"
            event("stopped", message, worker=self.name, exit_code=code, dead=dead)
            self.loop.close()
        return code

    def exit_code(self) -> int:
        """1 once a result or the queue itself had to be given up, or when a burst run ran
        a job that ended dead (a script learns that something needs a look); else 0."""
        failed = self.results.given_up or self.lease.lost
        return 1 if failed or (self.burst and self.results.dead) else 0
