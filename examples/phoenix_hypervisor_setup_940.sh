#!/bin/bash
#
# File: phoenix_hypervisor_setup_940.sh
# Description: Per-container setup for LXC 940 (LegacyScripted), kept as a
#   legacy shell hook in the style of the original Phoenix Hypervisor
#   scripts. Phoenix runs it unchanged after the built-in stages: argv from
#   the container's "hook_args" (the same five values the original 901
#   script took), working directory the hooks dir, stdin /dev/null, output
#   streamed into the run log. In `phoenix plan` it runs with pct shimmed
#   and its file writes discarded.
# Usage: phoenix_hypervisor_setup_940.sh <CTID> <GPU_ASSIGNMENT> \
#          <NVIDIA_DRIVER_VERSION> <NVIDIA_REPO_URL> <NVIDIA_RUNFILE_URL>
# Exit codes: 0 success; 2 usage; 3 container not running; 4 container
#   missing from the LXC config; 5 setup inside the container failed;
#   6 verification failed.

set -euo pipefail

MAIN_LOG_FILE="${MAIN_LOG_FILE:-/var/log/phoenix_hypervisor.log}"
LXC_CONFIG_FILE="${LXC_CONFIG_FILE:-/usr/local/phoenix_hypervisor/etc/phoenix_lxc_configs.json}"

log() {
    local level="$1"
    shift
    echo "$(date '+%Y-%m-%d %H:%M:%S') [$level] $(basename "$0"): $*" | tee -a "$MAIN_LOG_FILE"
}

if [ "$#" -ne 5 ]; then
    echo "Usage: $0 <CTID> <GPU_ASSIGNMENT> <NVIDIA_DRIVER_VERSION> <NVIDIA_REPO_URL> <NVIDIA_RUNFILE_URL>" >&2
    exit 2
fi
CTID="$1"
GPU_ASSIGNMENT="$2"
NVIDIA_DRIVER_VERSION="$3"
NVIDIA_REPO_URL="$4"
NVIDIA_RUNFILE_URL="$5"

log INFO "Starting setup of container $CTID (GPU assignment: $GPU_ASSIGNMENT)"

if ! pct status "$CTID" | grep -q "status: running"; then
    log ERROR "Container $CTID is not running"
    exit 3
fi

name=$(jq -r --arg id "$CTID" '.lxc_configs[$id].name // empty' "$LXC_CONFIG_FILE")
if [ -z "$name" ]; then
    log ERROR "Container $CTID not found in $LXC_CONFIG_FILE"
    exit 4
fi

log INFO "Installing base packages in $name ($CTID)"
if ! pct exec "$CTID" -- apt-get update -qq; then
    log ERROR "apt-get update failed in container $CTID"
    exit 5
fi
if ! pct exec "$CTID" -- env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl jq; then
    log ERROR "Package installation failed in container $CTID"
    exit 5
fi

motd=$(mktemp)
trap 'rm -f "$motd"' EXIT
echo "$name ($CTID): provisioned by Phoenix (legacy shell hook)" >"$motd"
if ! pct push "$CTID" "$motd" /etc/motd --perms 0644; then
    log ERROR "Could not write /etc/motd in container $CTID"
    exit 5
fi

if [ "$GPU_ASSIGNMENT" != "none" ]; then
    log INFO "GPU $GPU_ASSIGNMENT assigned: driver $NVIDIA_DRIVER_VERSION expected (repo $NVIDIA_REPO_URL)"
else
    log INFO "No GPU assigned: NVIDIA setup skipped (runfile $NVIDIA_RUNFILE_URL not needed)"
fi

if ! pct exec "$CTID" -- test -f /etc/motd; then
    log ERROR "Verification failed: /etc/motd missing in container $CTID"
    exit 6
fi

log INFO "Container $CTID ($name) setup complete"
exit 0
