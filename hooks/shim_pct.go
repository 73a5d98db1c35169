package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// pctCall maps one `pct` invocation of a shell hook onto b and answers as
// pct does (pct-facts.md): output on stdout/stderr, exit 0 on success and
// 255 with pct's message otherwise; `pct exec` exits with the command's code.
func pctCall(ctx context.Context, b engine.Backend, req shimRequest, stdout, stderr io.Writer) int {
	if b == nil {
		fmt.Fprintln(stderr, "pct: phoenix shim: this run has no backend")
		return 255
	}
	if len(req.Args) == 0 {
		fmt.Fprintln(stderr, "ERROR: no command specified")
		return 255
	}
	sub, rest := req.Args[0], req.Args[1:]
	var err error
	switch sub {
	case "exec":
		return pctExec(ctx, b, rest, req.Stdin, stdout, stderr)
	case "status":
		err = pctStatus(ctx, b, rest, stdout)
	case "list":
		err = pctList(ctx, b, stdout)
	case "config":
		err = pctConfig(ctx, b, rest, stdout)
	case "listsnapshot":
		err = pctListSnapshot(ctx, b, rest, stdout)
	default:
		err = pctMutate(ctx, b, sub, rest, req.File)
	}
	if err != nil {
		msg := err.Error()
		if errors.Is(err, engine.ErrNotExist) {
			msg = notExistMsg(rest)
		}
		fmt.Fprintln(stderr, msg)
		return 255
	}
	return 0
}

// notExistMsg is pct's message for a container that is not on this node.
func notExistMsg(args []string) string {
	id := "?"
	if len(args) > 0 {
		id = args[0]
	}
	node, _ := os.Hostname()
	node, _, _ = strings.Cut(node, ".")
	return fmt.Sprintf("Configuration file 'nodes/%s/lxc/%s.conf' does not exist", node, id)
}

// parseArgs splits the arguments of `pct sub` with pct's own parser
// (internal/pve): an option sub does not take is refused as pct refuses it.
func parseArgs(sub string, args []string) (pos []string, opts []engine.Option, err error) {
	c, err := pve.Parse(append([]string{sub}, args...))
	return c.Pos, c.Opts, err
}

// vmid parses the n-th positional as a container id.
func vmid(pos []string, n int, what string) (int, error) {
	if len(pos) <= n {
		return 0, fmt.Errorf("400 not enough arguments\nmissing %s", what)
	}
	id, err := strconv.Atoi(pos[n])
	if err != nil || id < 100 || id > 999999999 {
		return 0, fmt.Errorf("400 Parameter verification failed.\n%s: invalid format - value does not look like a valid VM ID", what)
	}
	return id, nil
}

func optValue(opts []engine.Option, key string) (string, bool) {
	for _, o := range opts {
		if o.Key == key {
			return o.Value, true
		}
	}
	return "", false
}

func pctStatus(ctx context.Context, b engine.Backend, args []string, stdout io.Writer) error {
	const sub = "status"
	pos, _, err := parseArgs(sub, args)
	if err != nil {
		return err
	}
	id, err := vmid(pos, 0, "vmid")
	if err != nil {
		return err
	}
	st, err := b.Status(ctx, id)
	if err != nil {
		return err
	}
	if !st.Exists {
		return fmt.Errorf("pct status: %w", engine.ErrNotExist)
	}
	state := "stopped"
	if st.Running {
		state = "running"
	}
	fmt.Fprintf(stdout, "status: %s\n", state)
	return nil
}

func pctList(ctx context.Context, b engine.Backend, stdout io.Writer) error {
	list, err := b.List(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return nil
	}
	const format = "%-10s %-10s %-12s %-20s\n"
	fmt.Fprintf(stdout, format, "VMID", "Status", "Lock", "Name")
	for _, e := range list {
		fmt.Fprintf(stdout, format, strconv.Itoa(e.CTID), e.Status, e.Lock, e.Name)
	}
	return nil
}

func pctConfig(ctx context.Context, b engine.Backend, args []string, stdout io.Writer) error {
	const sub = "config"
	pos, _, err := parseArgs(sub, args)
	if err != nil {
		return err
	}
	id, err := vmid(pos, 0, "vmid")
	if err != nil {
		return err
	}
	conf, err := b.Config(ctx, id)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := strings.HasPrefix(keys[i], "lxc."), strings.HasPrefix(keys[j], "lxc.")
		if ri != rj {
			return rj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		for _, v := range strings.Split(conf[k], "\n") {
			fmt.Fprintf(stdout, "%s: %s\n", k, v)
		}
	}
	return nil
}

// pctListSnapshot prints the snapshot tree as pct does: each snapshot a
// level deeper than the one before, then "current".
func pctListSnapshot(ctx context.Context, b engine.Backend, args []string, stdout io.Writer) error {
	const sub = "listsnapshot"
	pos, _, err := parseArgs(sub, args)
	if err != nil {
		return err
	}
	id, err := vmid(pos, 0, "vmid")
	if err != nil {
		return err
	}
	snaps, err := b.ListSnapshots(ctx, id)
	if err != nil {
		return err
	}
	indent := ""
	for _, s := range snaps {
		fmt.Fprintf(stdout, "%-*s %-23s %s\n", 30+len(indent)+3, indent+"`-> "+s, "", "no-description")
		indent += " "
	}
	fmt.Fprintf(stdout, "%-*s %-23s %s\n", 30+len(indent)+3, indent+"`-> current", "", "You are here!")
	return nil
}

// countWriter counts what passes through, to know whether the backend
// streamed its output.
type countWriter struct {
	w io.Writer
	n int
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return c.w.Write(p)
}

// pctExec is `pct exec CTID [--keep-env 0|1] -- COMMAND [ARGS...]`.
func pctExec(ctx context.Context, b engine.Backend, args []string, stdin []byte, stdout, stderr io.Writer) int {
	dash := -1
	for i, a := range args {
		if a == "--" {
			dash = i
			break
		}
	}
	if dash < 0 {
		fmt.Fprintln(stderr, "400 unable to parse option\npct exec <vmid> [<extra-args>] [OPTIONS]: put -- before the command, e.g. pct exec 100 -- ls -l")
		return 255
	}
	pos, _, err := parseArgs("exec", args[:dash])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 255
	}
	id, err := vmid(pos, 0, "vmid")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 255
	}
	argv := args[dash+1:]
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "missing command")
		return 255
	}
	out, errw := &countWriter{w: stdout}, &countWriter{w: stderr}
	opts := engine.ExecOptions{Stdout: out, Stderr: errw}
	if len(stdin) > 0 {
		opts.Stdin = stdin
	}
	res, err := b.Exec(ctx, id, argv, opts)
	if err != nil {
		if errors.Is(err, engine.ErrNotExist) {
			fmt.Fprintln(stderr, notExistMsg(pos))
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 255
	}
	if out.n == 0 {
		io.WriteString(stdout, res.Stdout)
	}
	if errw.n == 0 {
		io.WriteString(stderr, res.Stderr)
	}
	return res.Code
}

// pctMutate maps the mutating pct commands onto the Backend.
func pctMutate(ctx context.Context, b engine.Backend, sub string, args []string, file []byte) error {
	if !pve.Mutates(sub) {
		return unmapped(sub)
	}
	pos, opts, err := parseArgs(sub, args)
	if err != nil {
		return err
	}
	id, err := vmid(pos, 0, "vmid")
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		if len(pos) < 2 {
			return errors.New("400 not enough arguments\nmissing ostemplate")
		}
		return b.Create(ctx, engine.CreateSpec{CTID: id, Template: pos[1], Options: opts})
	case "clone":
		newid, err := vmid(pos, 1, "newid")
		if err != nil {
			return err
		}
		spec := engine.CloneSpec{Source: id, CTID: newid}
		spec.Snapshot, _ = optValue(opts, "snapname")
		spec.Hostname, _ = optValue(opts, "hostname")
		spec.Description, _ = optValue(opts, "description")
		full, _ := optValue(opts, "full")
		spec.Full = full == "1"
		return b.Clone(ctx, spec)
	case "set":
		var set []engine.Option
		var del []string
		for _, o := range opts {
			if o.Key == "delete" {
				del = append(del, strings.Split(o.Value, ",")...)
				continue
			}
			set = append(set, o)
		}
		return b.Set(ctx, id, set, del)
	case "start":
		return b.Start(ctx, id)
	case "stop":
		return b.Stop(ctx, id)
	case "shutdown":
		timeout := 60 * time.Second
		if v, ok := optValue(opts, "timeout"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("400 Parameter verification failed.\ntimeout: type check ('integer') failed - got '%s'", v)
			}
			timeout = time.Duration(n) * time.Second
		}
		return b.Shutdown(ctx, id, timeout)
	case "snapshot":
		if len(pos) < 2 {
			return errors.New("400 not enough arguments\nmissing snapname")
		}
		return b.Snapshot(ctx, id, pos[1])
	case "destroy":
		return b.Destroy(ctx, id)
	case "push":
		if len(pos) < 3 {
			return errors.New("400 not enough arguments\npct push <vmid> <file> <destination>")
		}
		po := engine.PushOptions{}
		po.User, _ = optValue(opts, "user")
		po.Group, _ = optValue(opts, "group")
		po.Perms, _ = optValue(opts, "perms")
		return b.Push(ctx, id, pos[2], file, po)
	}
	return unmapped(sub)
}

func unmapped(sub string) error {
	return fmt.Errorf("pct %s: %w: the shim answers status, list, config, listsnapshot, exec, push, create, clone, set, start, stop, shutdown, snapshot and destroy; do this step in a Lua hook or outside phoenix", sub, errUnmapped)
}
