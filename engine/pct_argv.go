package engine

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The functions below spell each Backend operation as the argv of the
// real `pct` CLI (without the leading "pct"). The pct backend runs them,
// the dry-run backend records them and the plan prints them, so what a
// user previews is exactly what would run.

// ErrNotExist is returned (wrapped) by Backend reads for a missing container.
var ErrNotExist = errors.New("container does not exist")

func id(ctid int) string { return strconv.Itoa(ctid) }

// CreateArgv is `pct create CTID TEMPLATE --opt value ...`.
func CreateArgv(s CreateSpec) []string {
	argv := []string{"create", id(s.CTID), s.Template}
	return appendOptions(argv, s.Options)
}

// CloneArgv is `pct clone SRC CTID --snapname SNAP --hostname NAME [--full 1]`.
func CloneArgv(s CloneSpec) []string {
	argv := []string{"clone", id(s.Source), id(s.CTID)}
	if s.Snapshot != "" {
		argv = append(argv, "--snapname", s.Snapshot)
	}
	if s.Hostname != "" {
		argv = append(argv, "--hostname", s.Hostname)
	}
	if s.Full {
		argv = append(argv, "--full", "1")
	}
	return argv
}

// SetArgv is `pct set CTID --opt value ... [--delete k1,k2]`.
func SetArgv(ctid int, opts []Option, del []string) []string {
	argv := appendOptions([]string{"set", id(ctid)}, opts)
	if len(del) > 0 {
		d := append([]string(nil), del...)
		sort.Strings(d)
		argv = append(argv, "--delete", joinComma(d))
	}
	return argv
}

func StartArgv(ctid int) []string { return []string{"start", id(ctid)} }
func StopArgv(ctid int) []string  { return []string{"stop", id(ctid)} }

// ShutdownArgv is `pct shutdown CTID --timeout N`.
func ShutdownArgv(ctid int, timeout time.Duration) []string {
	argv := []string{"shutdown", id(ctid)}
	if timeout > 0 {
		argv = append(argv, "--timeout", strconv.Itoa(int(timeout/time.Second)))
	}
	return argv
}

func SnapshotArgv(ctid int, name string) []string {
	return []string{"snapshot", id(ctid), name}
}

func DestroyArgv(ctid int) []string { return []string{"destroy", id(ctid)} }

// PushArgv is `pct push CTID SRC DEST [--user --group --perms]`; src is the
// host file holding the content.
func PushArgv(ctid int, src, dest string, o PushOptions) []string {
	argv := []string{"push", id(ctid), src, dest}
	if o.User != "" {
		argv = append(argv, "--user", o.User)
	}
	if o.Group != "" {
		argv = append(argv, "--group", o.Group)
	}
	if o.Perms != "" {
		argv = append(argv, "--perms", o.Perms)
	}
	return argv
}

// ExecArgv is `pct exec CTID -- [env K=V ...] argv...`. The "--" is always
// there: without it pct would take the command's own flags as its own.
func ExecArgv(ctid int, argv []string, env map[string]string) []string {
	out := []string{"exec", id(ctid), "--"}
	if len(env) > 0 {
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out = append(out, "env")
		for _, k := range keys {
			out = append(out, k+"="+env[k])
		}
	}
	return append(out, argv...)
}

func StatusArgv(ctid int) []string        { return []string{"status", id(ctid)} }
func ConfigArgv(ctid int) []string        { return []string{"config", id(ctid)} }
func ListSnapshotsArgv(ctid int) []string { return []string{"listsnapshot", id(ctid)} }
func ListArgv() []string                  { return []string{"list"} }

func appendOptions(argv []string, opts []Option) []string {
	for _, o := range opts {
		argv = append(argv, "--"+o.Key, o.Value)
	}
	return argv
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// AppendRawArgv has no pct equivalent: the raw lxc.* lines are appended to
// /etc/pve/lxc/CTID.conf. It is spelled as a pseudo-command for the plan.
func AppendRawArgv(ctid int, lines []string) []string {
	return append([]string{"# append to /etc/pve/lxc/" + id(ctid) + ".conf:"}, lines...)
}

// fmtArgv renders argv for a human, quoting what needs it.
func fmtArgv(argv []string) string {
	out := ""
	for i, a := range argv {
		if i > 0 {
			out += " "
		}
		out += shellQuote(a)
	}
	return out
}

// FormatArgv renders "pct " + argv as a shell-safe command line.
func FormatArgv(argv []string) string { return "pct " + fmtArgv(argv) }

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r == ',' || r == '=' || r == '@' || r == '+' || r == '%') {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	if strings.ContainsFunc(s, isControl) {
		return ansiCQuote(s)
	}
	q := "'"
	for _, r := range s {
		if r == '\'' {
			q += `'\''`
		} else {
			q += string(r)
		}
	}
	return q + "'"
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ansiCQuote quotes s as bash's $'...', so a newline or another control
// character in an argv element shows as \n or \xHH: one action stays one
// line of the console and the run log, and cannot forge the next one.
func ansiCQuote(s string) string {
	var b strings.Builder
	b.WriteString("$'")
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString("'")
	return b.String()
}
