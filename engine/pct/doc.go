// Package pct is the Backend of a real Proxmox VE host: it runs the `pct`
// CLI with an argv built by engine's *Argv functions (never a shell
// string) and parses what pct prints. pct's refusals (exit 255 and a
// message on stderr) become errors that keep the message.
//
// The only file it writes itself is /etc/pve/lxc/<CTID>.conf, for the raw
// lxc.* lines of the legacy GPU passthrough, which pct has no command for.
package pct
