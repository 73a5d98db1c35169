package lxc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// mappedRoot is the host uid and gid the container's root runs as: what
// its lxc.idmap lines map container id 0 to. ok is false for a container
// without maps (privileged: root is the host's root).
func mappedRoot(c *lxcConf) (uid, gid uint32, ok bool) {
	var haveU, haveG bool
	for _, v := range c.Get("lxc.idmap") {
		f := strings.Fields(v) // "u 0 100000 65536"
		if len(f) != 4 || f[1] != "0" {
			continue
		}
		host, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		switch f[0] {
		case "u":
			uid, haveU = uint32(host), true
		case "g":
			gid, haveG = uint32(host), true
		}
	}
	return uid, gid, haveU && haveG
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
		if !searchable(fi, uid, gid) {
			return fmt.Errorf("start %d: CT %d's root runs as host uid %d (its id map), which cannot enter %s (mode %04o, owner %d): "+
				"make it reachable with chmod o+x %s, or keep the LXC path (PHOENIX_LXC_PATH) under directories it can enter",
				ctid, ctid, uid, d, fi.Mode().Perm(), ownerOf(fi), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// searchable reports whether uid:gid may enter the directory fi, by its
// mode bits (ACLs, which LXC also suggests, are not read: a directory only
// an ACL opens is reported, and its chmod hint still applies).
func searchable(fi os.FileInfo, uid, gid uint32) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true // not a Unix stat: nothing to judge by
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == uid:
		return perm&0o100 != 0
	case st.Gid == gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

func ownerOf(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}
