// Package pve is pct's vocabulary, written once: its verbs and whether
// they change anything, the argv of every call (built and parsed), the
// property strings of its options (net0, features, rootfs, devN, mpN,
// startup), its messages as typed errors, and the /etc/pve/lxc/<CTID>.conf
// file format. The pct backend speaks it to the real pct; the dry-run
// plan prints it; the fakes (internal/fakepct, internal/memhost) and the
// shell hooks' pct shim parse it. Every codec here round-trips:
// Parse(Format(x)) == x.
//
// It imports nothing of phoenix: engine aliases its types.
package pve
