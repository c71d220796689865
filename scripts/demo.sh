#!/usr/bin/env bash
# A real end-to-end run on a temporary SQLite queue: retries into the DLQ, a timeout,
# priorities, a delayed job, a worker of two slots in the background and `wait` for every
# job, then what users look at.
set -euo pipefail

QUEUECTL_HOME="$(mktemp -d "${TMPDIR:-/tmp}/queuectl-demo.XXXXXX")"
export QUEUECTL_HOME
unset QUEUECTL_DB QUEUECTL_DB_PATH
trap 'queuectl worker stop --now >/dev/null 2>&1; rm -rf "$QUEUECTL_HOME"' EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "queue: $QUEUECTL_HOME/queuectl.db"
step queuectl config set backoff-base 1      # retry after 1 s instead of 2, 4, 8 … s
step queuectl enqueue '{"id":"hello","command":"echo hello from $QUEUECTL_JOB_ID"}'
step queuectl enqueue '{"id":"flaky","command":"echo trying; exit 3","max_retries":2}'
step queuectl enqueue --id slow --command 'sleep 30' --timeout 1s --max-retries 0
step queuectl enqueue --id low --command 'echo low priority' --priority -5
step queuectl enqueue --id urgent --command 'echo urgent first' --priority 10
step queuectl enqueue --id later --command 'date -u +"ran at %T"' --delay 2s
step queuectl enqueue '{"id":"argv","command":["printf","%s|%s\\n","no","shell"]}'
step queuectl list
step queuectl worker start --count 2 --detach
# one line per job as it ends; exit 1, since flaky and slow end dead
step queuectl wait hello flaky slow low urgent later argv || echo "(wait exited $?)"
step queuectl worker stop
step queuectl status
step queuectl list
step queuectl dlq list
step queuectl show flaky
step queuectl logs hello
step queuectl logs flaky --attempt 3
step queuectl dlq retry flaky
step queuectl list --state pending --json
