#!/bin/bash
# The fence of one queuectl worker: its jobs must not outlive it, nor its leases.
#
# Usage: fence.sh TOKEN SECONDS, with the worker's pipe as stdin. The worker writes a
# line after every lease renewal: how many seconds its jobs may run on without the
# next one. At end of file (the worker exited or was killed) or after that long in
# silence (the worker is frozen or cut off from the queue), every process that
# carries QUEUECTL_FENCE=TOKEN in its environment (the worker's jobs and whatever
# they started) is killed, before any lease can expire and another worker re-run them.
token="QUEUECTL_FENCE=$1"
limit="$2"
while IFS= read -r -t "$limit" line; do
    limit="$line"
done

kill_marked() {
    local found=0 entry pid vars
    for entry in /proc/[0-9]*/environ; do
        pid="${entry#/proc/}"
        pid="${pid%/environ}"
        [ "$pid" = "$$" ] && continue
        mapfile -d '' -t vars < "$entry" 2>/dev/null || continue
        for var in "${vars[@]}"; do
            if [ "$var" = "$token" ]; then
                kill -KILL "$pid" 2>/dev/null && found=1
                break
            fi
        done
    done
    return $((1 - found))
}

# Jobs may fork while we look: look again until a pass finds nothing (bounded).
for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill_marked || break
done
