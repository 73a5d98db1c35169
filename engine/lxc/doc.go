// Package lxc is an engine.Backend that drives real LXC containers with
// LXC's own tools (lxc-copy, lxc-snapshot, lxc-start, lxc-attach,
// lxc-info, lxc-ls, lxc-stop, lxc-destroy; Create writes the rootfs and
// the config itself, as lxc-create would without its host defaults), so a
// whole Phoenix deployment and its hooks can run for real on any Linux
// host, without Proxmox.
//
// Containers are named by their CTID and live in a private lxcpath
// (Options.LXCPath; every tool is called with -P), so a test or the demo
// never sees the host's other containers. Proxmox options (`pct set` keys)
// are mapped onto LXC configuration keys where LXC has an equivalent
// (hostname, memory, cores, net0 when its bridge exists, nesting); the
// rest are kept as "#phoenix: key: value" comment lines in the container's
// LXC config, which LXC keeps through snapshots and clones, so Config
// answers as `pct config` would and a converged re-run changes nothing.
//
// Differences from Proxmox, by design:
//   - no network unless the configured bridge exists on the host (and
//     Options.Network is not "none"); addresses are never invented;
//   - an unprivileged container or one with id maps gets them for real
//     (Proxmox's default map completed around the configured ranges), its
//     rootfs mounted idmapped rather than shifted on disk (pctmap.go,
//     syncIDMaps): the rootfs keeps the container's own ids on the host;
//   - no GPU passthrough: GPUSupported says so and the NVIDIA stage skips;
//   - the container runs a minimal init (/sbin/phoenix-init) that exits
//     promptly on SIGPWR/SIGTERM, so stop and shutdown take well under a
//     second; services of the image are not started;
//   - LXC cannot snapshot a running container: Snapshot stops it, takes
//     the snapshot and starts it again;
//   - clones of a snapshot are overlayfs clones (fast, like a linked clone
//     of a Proxmox template).
//
// EnsureRootfs builds (once, cached) a minimal Debian rootfs with
// debootstrap for tests and the bundled example; ThrowawayFactory makes
// the throwaway containers of `phoenix hook test --backend lxc`; PlanNotes
// lists, per container, what this backend does differently, for the plan.
package lxc
