"""``export`` and ``import``: a queue's jobs as JSON Lines, out and back in (jobfile)."""

from __future__ import annotations

import sys

from queuectl.cli import PROG, open_queue
from queuectl.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Iterator
    from typing import IO


def cmd_export(args: Namespace) -> int:
    """One line per job on stdout, written as the queue is read (a page at a time); the
    count on stderr, and a word about jobs that were running."""
    import json

    out = sys.stdout.buffer
    count = running = 0
    with open_queue(args, read_only=True) as queue:
        lines = queue.export(
            args.states, args.queue, history=args.with_history, env_values=args.with_env_values
        )
        try:
            for line in lines:
                out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
                out.write(b"\n")
                count += 1
                running += line.get("state") == "processing"
            out.flush()
        finally:
            lines.close()  # its read snapshot ends before the queue is closed
    sys.stderr.write(f"exported {count} jobs\n")
    if running:
        sys.stderr.write(
            f"{PROG}: {running} of them were processing: their workers still run them here, "
            "and an import makes them jobs whose worker was lost; for a copy of a queue at "
            "rest, stop its workers first (worker stop)\n"
        )
    return 0


def cmd_import(args: Namespace) -> int:
    """Every line of ``--file`` into the queue in one transaction, or nothing; the counts
    on stderr."""
    if args.file is None:
        raise InvalidInput("import reads --file FILE (JSON Lines, as export writes; '-' = stdin)")
    with _lines(args.file) as lines, open_queue(args) as queue:
        done = queue.import_lines(lines, lines.source, args.on_duplicate)
    skipped = f", skipped {done.skipped} already in the queue" if done.skipped else ""
    sys.stderr.write(f"imported {done.jobs} jobs and {done.attempts} attempts{skipped}\n")
    return 0


class _Lines:
    """The lines of a file (or of stdin, kept in an unnamed temporary file), read again
    from the start by each iteration: an import reads its input twice, once to check
    it all before the queue is opened, once to write it."""

    def __init__(self, handle: IO[bytes], source: str) -> None:
        self.handle = handle
        self.source = source

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def __iter__(self) -> Iterator[str]:
        self.handle.seek(0)
        for number, raw in enumerate(self.handle, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{self.source}, line {number}: not UTF-8 text") from None


def _lines(name: str) -> _Lines:
    if name != "-":
        try:
            return _Lines(open(name, "rb"), name)
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {name}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {name}: {exc.strerror}") from None
    import shutil
    import tempfile

    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _Lines)
    shutil.copyfileobj(sys.stdin.buffer, spool)
    return _Lines(spool, "stdin")
