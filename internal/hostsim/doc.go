// Package hostsim is the one model of what happens inside a Proxmox
// container that the test doubles and the dry-run share: how the commands
// the built-in stages run answer (true, cat, test, mkdir, nvidia-smi,
// nvidia-ctk, docker info|inspect|run) and what the tagged install
// scripts leave behind, over a container's file system (FS).
//
// The fake pct (internal/fakepct) runs it over a rootfs on disk, the
// in-process fake (internal/memhost) over a map, and the dry-run overlay
// (engine/dryrun) over a map layered on the real host, where a fact it
// cannot know makes Exec answer ErrUnknown so the question goes to the
// host instead of being assumed.
package hostsim
