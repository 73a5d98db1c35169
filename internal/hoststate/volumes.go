package hoststate

import (
	"strconv"
	"strings"
)

// Volume names ("local:vm-900-disk-0") are the storage layer's: the
// model keeps what it is given, and only renames a template's disk as
// `pct template` does. The fake pct allocates names (and MAC addresses)
// for what it creates and clones itself.

func vmPrefix(ctid int) string   { return "vm-" + strconv.Itoa(ctid) + "-" }
func basePrefix(ctid int) string { return "base-" + strconv.Itoa(ctid) + "-" }

// baseVolume is a template's rootfs volume as Proxmox names it once the
// container is a template: "local:base-900-disk-0".
func baseVolume(ctid int, c *Container) string {
	vol, _, _ := strings.Cut(c.Config["rootfs"], ",")
	return strings.Replace(vol, vmPrefix(ctid), basePrefix(ctid), 1)
}
