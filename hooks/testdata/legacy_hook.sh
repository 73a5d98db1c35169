#!/bin/bash
# A hook in the style of the old system's phoenix_hypervisor_setup_<CTID>.sh
# scripts: argument check, pct status, pct listsnapshot | grep, pct exec,
# jq reads of $LXC_CONFIG_FILE, distinct exit codes 2-6, logging with tee.
set -euo pipefail

log() {
    echo "$(date '+%Y-%m-%d %H:%M:%S') [INFO] $(basename "$0"): $*" | tee -a "$MAIN_LOG_FILE"
}

if [ "$#" -ne 1 ]; then
    echo "Usage: $0 <CTID>" >&2
    exit 2
fi
CTID="$1"

if ! pct status "$CTID" | grep -q "status: running"; then
    echo "Container $CTID is not running" >&2
    exit 3
fi
if ! pct listsnapshot 900 | grep -q "base-snapshot"; then
    echo "Template 900 has no base-snapshot" >&2
    exit 4
fi
if ! pct exec "$CTID" -- apt-get update; then
    echo "apt-get update failed in container $CTID" >&2
    exit 5
fi
name=$(jq -r --arg id "$CTID" '.lxc_configs[$id].name' "$LXC_CONFIG_FILE")
if [ "$name" != "LegacyScripted" ]; then
    echo "Unexpected container name: $name" >&2
    exit 6
fi
echo "hostname is $(pct exec "$CTID" -- hostname)"
log "Container $CTID ($name) set up, dry-run=$PHOENIX_DRY_RUN"
