package pve

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Option is one `--key value` pair; order is kept so argv is stable.
type Option struct {
	Key   string
	Value string
}

// CreateSpec is `pct create CTID TEMPLATE opts...`.
type CreateSpec struct {
	CTID     int
	Template string
	Options  []Option
}

// CloneSpec is `pct clone Source CTID --snapname Snapshot --hostname ...`.
type CloneSpec struct {
	Source   int
	CTID     int
	Snapshot string
	Hostname string
	Full     bool
	// Storage (--storage) is where a full clone's disks go; "" is where
	// the source's are. pct refuses it for a linked clone.
	Storage string
	// Description is the new container's notes (phoenix writes where it
	// made the container from: engine.ClonedDescription).
	Description string
}

// PushOptions are pct push's --user/--group/--perms.
type PushOptions struct {
	User  string
	Group string
	Perms string // octal, e.g. "0644"
}

// The functions below spell each call as the argv of the real `pct` CLI
// (without the leading "pct"). The pct backend runs them, the dry-run
// backend records them and the plan prints them, so what a user previews
// is exactly what would run.

func id(ctid int) string { return strconv.Itoa(ctid) }

// CreateArgv is `pct create CTID TEMPLATE --opt value ...`.
func CreateArgv(s CreateSpec) []string {
	return appendOptions([]string{"create", id(s.CTID), s.Template}, s.Options)
}

// CloneArgv is `pct clone SRC CTID --snapname SNAP --hostname NAME [--full 1] [--storage POOL] [--description D]`.
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
	if s.Storage != "" {
		argv = append(argv, "--storage", s.Storage)
	}
	if s.Description != "" {
		argv = append(argv, "--description", s.Description)
	}
	return argv
}

// SetArgv is `pct set CTID --opt value ... [--delete k1,k2]`.
func SetArgv(ctid int, opts []Option, del []string) []string {
	argv := appendOptions([]string{"set", id(ctid)}, opts)
	if len(del) > 0 {
		d := append([]string(nil), del...)
		sort.Strings(d)
		argv = append(argv, "--delete", strings.Join(d, ","))
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

func SnapshotArgv(ctid int, name string) []string { return []string{"snapshot", id(ctid), name} }

// DestroyArgv is `pct destroy CTID --purge 1`: the container goes from backup
// jobs, replication and HA too, so nothing refers to a CTID that is gone.
func DestroyArgv(ctid int) []string { return []string{"destroy", id(ctid), "--purge", "1"} }

// DelSnapshotArgv is `pct delsnapshot CTID NAME`.
func DelSnapshotArgv(ctid int, name string) []string {
	return []string{"delsnapshot", id(ctid), name}
}

// ResizeArgv is `pct resize CTID DISK SIZE` (e.g. rootfs 64G).
func ResizeArgv(ctid int, disk, size string) []string {
	return []string{"resize", id(ctid), disk, size}
}

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

// AppendRawArgv has no pct equivalent: the raw lxc.* lines are appended to
// /etc/pve/lxc/CTID.conf. It is spelled as a pseudo-command for the plan.
func AppendRawArgv(ctid int, lines []string) []string {
	return append([]string{AppendRawVerb(ctid)}, lines...)
}

// AppendRawVerb is the first word of AppendRawArgv.
func AppendRawVerb(ctid int) string { return "# append to /etc/pve/lxc/" + id(ctid) + ".conf:" }

func appendOptions(argv []string, opts []Option) []string {
	for _, o := range opts {
		argv = append(argv, "--"+o.Key, o.Value)
	}
	return argv
}

// Call is one pct invocation, parsed the way pct's option parser splits
// it: positionals, options in order, and for exec the command after "--".
type Call struct {
	Verb string
	Pos  []string
	Opts []Option
	// Cmd is exec's command (after "--"); HasCmd tells an empty one from
	// a missing "--".
	Cmd    []string
	HasCmd bool
}

// Argv spells c back as pct's argv: the inverse of Parse.
func (c Call) Argv() []string {
	argv := appendOptions(append([]string{c.Verb}, c.Pos...), c.Opts)
	if c.HasCmd {
		argv = append(append(argv, "--"), c.Cmd...)
	}
	return argv
}

// Get is the last value given for key (pct keeps the last).
func (c Call) Get(key string) (string, bool) {
	v, ok := "", false
	for _, o := range c.Opts {
		if o.Key == key {
			v, ok = o.Value, true
		}
	}
	return v, ok
}

// CTID parses the n-th positional as a container id, with pct's message.
func (c Call) CTID(n int) (int, error) {
	if len(c.Pos) <= n {
		return 0, usage("400 not enough arguments\npct %s <vmid>", c.Verb)
	}
	return ParseCTID(c.Pos[n])
}

// ParseCTID checks a vmid (100–999999999) as pct does.
func ParseCTID(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 999999999 || strconv.Itoa(n) != s {
		return 0, usage("400 Parameter verification failed.\nvmid: invalid format - value does not look like a valid VM ID")
	}
	return n, nil
}

// Positional checks the number of positional arguments.
func (c Call) Positional(names ...string) error {
	if len(c.Pos) < len(names) {
		return usage("400 not enough arguments\npct %s <%s>", c.Verb, strings.Join(names, "> <"))
	}
	if len(c.Pos) > len(names) {
		return usage("400 too many arguments\npct %s <%s>", c.Verb, strings.Join(names, "> <"))
	}
	return nil
}

// Parse splits a pct argv (without "pct") as pct does: booleans may go
// without a value, other options take the next argument, `--key=value` is
// accepted; an option the verb does not take is refused with pct's
// message. exec's command follows "--".
func Parse(argv []string) (Call, error) {
	if len(argv) == 0 {
		return Call{}, usage("ERROR: no command specified\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]")
	}
	c := Call{Verb: argv[0]}
	verb, ok := Verbs[c.Verb]
	if !ok {
		return c, usage("ERROR: unknown command 'pct %s'\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]", c.Verb)
	}
	args := argv[1:]
	if c.Verb == "exec" {
		for i, a := range args {
			if a == "--" {
				args, c.Cmd, c.HasCmd = args[:i], append([]string{}, args[i+1:]...), true
				break
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			c.Pos = append(c.Pos, a)
			continue
		}
		key, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !verb.Allows(key) {
			return c, usage("Unknown option: %s\n400 unable to parse option\nUSAGE: pct %s", key, c.Verb)
		}
		if !hasValue {
			switch {
			case booleans[key] && (i+1 >= len(args) || !isBool(args[i+1])):
				value = "1"
			case i+1 >= len(args):
				return c, usage("400 Parameter verification failed.\n%s: missing value for option", key)
			default:
				i++
				value = args[i]
			}
		}
		c.Opts = append(c.Opts, Option{Key: key, Value: value})
	}
	return c, nil
}

func isBool(s string) bool {
	switch s {
	case "0", "1", "true", "false", "yes", "no", "on", "off":
		return true
	}
	return false
}

// SplitEnv takes a leading `env K=V ...` off an exec command (as ExecArgv
// spells the environment).
func SplitEnv(cmd []string) (env map[string]string, argv []string) {
	if len(cmd) == 0 || cmd[0] != "env" {
		return nil, cmd
	}
	env = map[string]string{}
	i := 1
	for ; i < len(cmd); i++ {
		k, v, ok := strings.Cut(cmd[i], "=")
		if !ok || k == "" || strings.HasPrefix(k, "-") {
			break
		}
		env[k] = v
	}
	return env, cmd[i:]
}

// UsageError is pct refusing its arguments before any task starts.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usage(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// FormatArgv renders "pct " + argv as a shell-safe command line.
func FormatArgv(argv []string) string { return "pct " + JoinQuoted(argv) }

// JoinQuoted renders argv for a human, quoting what needs it.
func JoinQuoted(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = ShellQuote(a)
	}
	return strings.Join(out, " ")
}

// ShellQuote quotes s for sh when it holds anything but safe characters.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_./:,=@+%", r)) {
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
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
