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

// The kinds of pseudo-command (CutPseudo).
const (
	PseudoFile = "file" // a file under /etc/pve Phoenix edits or writes itself
	PseudoHost = "host" // a command Phoenix runs on the host itself
)

// Pseudo is a pseudo-command read back: what Phoenix does outside pct.
type Pseudo struct {
	Kind  string   // PseudoFile or PseudoHost
	Op    string   // "edit", "append", "write" for a file; "run" on the host
	Path  string   // the file; "" on the host
	Lines []string // the lines the plan shows: changes, content or commands
}

// CutPseudo reads argv as one of the pseudo-commands above (AppendRawArgv,
// EditRawArgv, WriteFileArgv, HostDirArgv, RemoveFileArgv); ok is false
// for a pct argv, so that a consumer (--output json) can tell them apart.
func CutPseudo(argv []string) (p Pseudo, ok bool) {
	if len(argv) == 0 || !strings.HasPrefix(argv[0], "# ") || !strings.HasSuffix(argv[0], ":") {
		return Pseudo{}, false
	}
	head := strings.TrimSuffix(strings.TrimPrefix(argv[0], "# "), ":")
	lines := append([]string(nil), argv[1:]...)
	if head == "on the host" {
		return Pseudo{Kind: PseudoHost, Op: "run", Lines: lines}, true
	}
	for _, op := range []string{"edit ", "append to ", "write "} {
		if path, found := strings.CutPrefix(head, op); found {
			return Pseudo{Kind: PseudoFile, Op: strings.Fields(op)[0], Path: path, Lines: lines}, true
		}
	}
	return Pseudo{}, false
}
