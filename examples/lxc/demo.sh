#!/usr/bin/env bash
# Provision the bundled LXC example for real: a template (CT 100) and two
# overlay clones of its snapshot, CT 101 with a Lua hook and CT 102 with a
# legacy shell hook, each writing a file inside its own container. Offline:
# the containers get no network. Everything is destroyed at the end
# (PHOENIX_DEMO_KEEP=1 keeps it). Not root: prints the dry-run plan instead.
#
# Environment: PHOENIX (the phoenix binary; default bin/phoenix of this
# repository, built if missing), PHOENIX_TEST_ROOTFS_CACHE (the cached
# rootfs; default /var/cache/phoenix-test/rootfs-bookworm).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
default_rootfs=/var/cache/phoenix-test/rootfs-bookworm
rootfs="${PHOENIX_TEST_ROOTFS_CACHE:-$default_rootfs}"
phoenix="${PHOENIX:-$repo/bin/phoenix}"

say() { printf '\n== %s\n' "$*"; }

if [ ! -x "$phoenix" ]; then
	say "building $phoenix"
	(cd "$repo" && go build -o "$phoenix" ./cmd/phoenix)
fi

work="$(mktemp -d /tmp/phoenix-lxc-demo.XXXXXX)"
# mktemp makes it 0700; the unprivileged containers' root (host uid 100000)
# must be able to enter it to reach its rootfs.
chmod 0711 "$work"
lxcpath="$work/lxc"
export PHOENIX_LXC_PATH="$lxcpath" PHOENIX_LXC_NETWORK=none

# The configs name the default rootfs path; a copy points at the real one.
mkdir -p "$work/etc"
for f in phoenix_hypervisor_config.json phoenix_lxc_configs.json; do
	sed "s|$default_rootfs|$rootfs|g" "$here/$f" >"$work/etc/$f"
done

phx() {
	"$phoenix" --backend lxc \
		--hypervisor-config "$work/etc/phoenix_hypervisor_config.json" \
		--lxc-config "$work/etc/phoenix_lxc_configs.json" \
		--hooks-dir "$here" \
		--log-file "$work/phoenix_hypervisor.log" \
		--lock-file "$work/phoenix_hypervisor.lock" \
		"$@"
}

if [ "$(id -u)" -ne 0 ]; then
	say "not root: real LXC containers need root, so here is the dry-run plan instead"
	rc=0
	phx plan || rc=$?
	rm -rf "$work"
	exit "$rc"
fi

teardown() {
	# Runs whatever happened: a closed output pipe or an error must not
	# stop it half way.
	trap '' PIPE
	set +e
	if [ "${PHOENIX_DEMO_KEEP:-0}" = 1 ]; then
		say "kept: containers in $lxcpath (lxc-ls -P $lxcpath -f)"
		return
	fi
	say "tearing down"
	if [ -d "$lxcpath" ]; then
		for c in $(lxc-ls -P "$lxcpath" -1 2>/dev/null); do
			lxc-stop -k -n "$c" -P "$lxcpath" >/dev/null 2>&1 || true
		done
		# Clones first: LXC refuses to destroy a container whose snapshot
		# has overlay clones.
		for _ in 1 2 3; do
			for c in $(lxc-ls -P "$lxcpath" -1 2>/dev/null | sort -rn); do
				lxc-destroy -s -n "$c" -P "$lxcpath" >/dev/null 2>&1 || true
			done
		done
	fi
	rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# lxc, rsync, debootstrap, ...: the packages of .ci/packages.
"$repo/.ci/install-deps"

if [ ! -e "$rootfs/bin/sh" ]; then
	say "building a minimal Debian rootfs in $rootfs (once; about 25 s)"
	mkdir -p "$(dirname "$rootfs")"
	(
		flock 9 # the tests build the same cache
		if [ ! -e "$rootfs/bin/sh" ]; then
			rm -rf "$rootfs.building"
			debootstrap --variant=minbase bookworm "$rootfs.building" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
				{ tail -20 "$work/debootstrap.log" >&2; exit 1; }
			rm -rf "$rootfs"
			mv "$rootfs.building" "$rootfs"
		fi
	) 9>"$rootfs.lock"
fi

say "provisioning (phoenix --backend lxc run)"
start=$(date +%s%N)
phx run
echo "took $((($(date +%s%N) - start) / 1000000)) ms"

for ct in 101 102; do
	say "CT $ct: /root/phoenix-demo.txt, read from inside the container"
	lxc-attach -n "$ct" -P "$lxcpath" --clear-env -- cat /root/phoenix-demo.txt
done

say "converged re-run: nothing to do"
start=$(date +%s%N)
phx run
echo "took $((($(date +%s%N) - start) / 1000000)) ms"
