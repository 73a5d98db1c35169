package pve

import (
	"strconv"
	"strings"
)

// Pseudo-commands for the plan: what Phoenix writes itself, outside pct,
// spelled like AppendRawArgv ("# " then what is done, then its lines).

// WriteFileVerb is the first word of WriteFileArgv; rel is relative to
// the Proxmox config root.
func WriteFileVerb(rel string) string { return "# write /etc/pve/" + rel + ":" }

// WriteFileArgv is the whole content of a file Phoenix writes under
// /etc/pve, one line per item.
func WriteFileArgv(rel string, content []byte) []string {
	return append([]string{WriteFileVerb(rel)}, strings.Split(strings.TrimRight(string(content), "\n"), "\n")...)
}

// RemoveFileArgv is a file Phoenix wrote under /etc/pve removed (destroy).
func RemoveFileArgv(rel string) []string {
	return []string{"# on the host:", "rm -f " + ShellQuote("/etc/pve/"+rel)}
}

// HostDirArgv is a host directory made and given to the container's
// mapped owner (uid or gid -1: left as it is).
func HostDirArgv(path string, uid, gid int) []string {
	s := "mkdir -p " + ShellQuote(path)
	if uid >= 0 || gid >= 0 {
		s += " && chown " + ownerSpec(uid, gid) + " " + ShellQuote(path)
	}
	return []string{"# on the host:", s}
}

func ownerSpec(uid, gid int) string {
	var u, g string
	if uid >= 0 {
		u = strconv.Itoa(uid)
	}
	if gid >= 0 {
		g = strconv.Itoa(gid)
	}
	return u + ":" + g
}
