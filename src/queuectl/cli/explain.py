"""``explain ID``: why a job is not running (queuectl.explain)."""

from __future__ import annotations

from queuectl.cli import open_queue, print_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace


def cmd_explain(args: Namespace) -> int:
    from queuectl.explain import explain

    with open_queue(args, read_only=True) as queue:
        job, reasons = explain(queue, args.id)
    if args.json:
        print_json({"id": job.id, "state": job.state.value,
                    "reasons": [r.to_dict() for r in reasons]})  # fmt: skip
    else:
        print(f"{job.id}  {job.state.value}  queue {job.queue}")
        print("\n".join(f"  {r.message}" for r in reasons))
    return 0
