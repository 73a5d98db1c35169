#!/bin/bash
# CT 102's legacy hook, in the style of the old scripts: argument check,
# pct status, pct exec. It runs on the host; on the LXC backend `pct` is
# Phoenix's shim, mapped onto the LXC containers.
set -euo pipefail

CTID="${1:-}"
if [ -z "$CTID" ]; then
    echo "usage: $0 CTID" >&2
    exit 2
fi

if ! pct status "$CTID" | grep -q "status: running"; then
    echo "CT $CTID is not running" >&2
    exit 3
fi

pct exec "$CTID" -- sh -c 'echo "written by a shell hook in $(hostname) (CT '"$CTID"')" > /root/phoenix-demo.txt'
echo "CT $CTID: /root/phoenix-demo.txt holds: $(pct exec "$CTID" -- cat /root/phoenix-demo.txt)"
