package lxc

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// mappedRoot is the host uid and gid the container's root runs as: what
// its lxc.idmap lines map container id 0 to. ok is false for a container
// without maps (privileged: root is the host's root).
func mappedRoot(c *lxcConf) (uid, gid uint32, ok bool) {
	var maps []pve.IDMap
	for _, v := range c.Get("lxc.idmap") {
		if m, err := pve.ParseIDMap(v); err == nil {
			maps = append(maps, m)
		}
	}
	if len(maps) == 0 {
		return 0, 0, false
	}
	return uint32(pve.HostID(maps, "u", 0, true)), uint32(pve.HostID(maps, "g", 0, true)), true
}

// checkReachable fails when a container whose root is mapped to host
// uid:gid could not reach dir, its own directory: LXC opens the rootfs as
// that uid, so every directory above it needs x for it. LXC's own error
// ("Permission denied - Could not access DIR") comes only after the start
// aborted; this one names the directory and the fix before it. (A private
// mktemp -d directory, mode 0700, is the usual cause.)
func checkReachable(ctid int, dir string, uid, gid uint32) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("start %d: %w", ctid, err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !searchable(fi.Mode().Perm(), st, uid, gid) {
			return fmt.Errorf("start %d: CT %d's root runs as host uid %d (its id map), which cannot enter %s (mode %04o, owner %d): "+
				"make it reachable with chmod o+x %s, or keep the LXC path (PHOENIX_LXC_PATH) under directories it can enter",
				ctid, ctid, uid, d, fi.Mode().Perm(), st.Uid, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// searchable reports whether uid:gid may enter a directory of mode perm
// and owner st, by its mode bits (ACLs, which LXC also suggests, are not
// read: a directory only an ACL opens is reported, and its chmod hint
// still applies).
func searchable(perm os.FileMode, st *syscall.Stat_t, uid, gid uint32) bool {
	switch {
	case st.Uid == uid:
		return perm&0o100 != 0
	case st.Gid == gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
