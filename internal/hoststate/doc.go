// Package hoststate is the one model of a Proxmox host's container state
// that the dry-run backend (engine/dryrun), the in-process fake
// (internal/memhost) and the fake pct (internal/fakepct) share: containers
// by CTID with their config, running state, lock, snapshots (and what
// each captured), template flag and linked clones, and pct's verbs over
// them with pct's own refusals (internal/pve's messages, as
// *pve.Refusal).
//
// What is inside a container (its files) is not the model's: each user
// keeps it its own way (in memory, on disk) and is told through Inside
// when a verb that passed pct's checks copies or drops it. Files is the
// in-memory Inside.
//
// A Host is not safe for concurrent use: its users hold their own lock.
package hoststate
