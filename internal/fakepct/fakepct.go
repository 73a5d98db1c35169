package fakepct

import (
	"encoding/json"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
	"path/filepath"

	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Node is the node name the fake reports in its messages.
const Node = pve.Node

// Fake is one configured fake pct. Main builds it from the environment;
// tests may build it directly (and run it in parallel).
type Fake struct {
	// StateDir holds the fake host ($FAKE_PCT_STATE).
	StateDir string
	// Fail lists injected failures ($FAKE_PCT_FAIL): "op:ctid", "op:*" or
	// "op", comma-separated.
	Fail string
	// Delay is slept before every call ($FAKE_PCT_DELAY, a Go duration).
	Delay time.Duration
	// Now stamps snapshots; nil means time.Now.
	Now func() time.Time
}

// FromEnv builds a Fake from FAKE_PCT_STATE, FAKE_PCT_FAIL and
// FAKE_PCT_DELAY as read by getenv.
func FromEnv(getenv func(string) string) (*Fake, error) {
	f := &Fake{StateDir: getenv("FAKE_PCT_STATE"), Fail: getenv("FAKE_PCT_FAIL")}
	if f.StateDir == "" {
		return nil, errors.New("FAKE_PCT_STATE is not set: point it at the fake host's state directory")
	}
	if d := getenv("FAKE_PCT_DELAY"); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("FAKE_PCT_DELAY %q: %w (use a Go duration such as 50ms)", d, err)
		}
		f.Delay = dur
	}
	return f, nil
}

// Main is the fake pct program: args are the arguments after the program
// name. It returns the exit code: 0 on success, 255 with pct's message on
// stderr for what pct refuses, 2 when the fake itself is misconfigured.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, err := FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "fake-pct:", err)
		return 2
	}
	return f.Run(args, stdin, stdout, stderr)
}

// refuse is a refusal pct would print before exiting 255, as the model's
// own (internal/hoststate) are.
func refuse(format string, a ...any) error { return pve.Refuse(fmt.Sprintf(format, a...)) }

// result is what a command prints and returns; it is written out after the
// state lock is released.
type result struct {
	stdout, stderr bytes.Buffer
	code           int
	sleep          time.Duration
	gate, after    string // ExecRule.Gate and After
}

// Run executes one pct invocation against f.StateDir.
func (f *Fake) Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := os.MkdirAll(f.StateDir, 0o755); err != nil {
		fmt.Fprintln(stderr, "fake-pct:", err)
		return 2
	}
	if err := appendCall(f.StateDir, args); err != nil {
		fmt.Fprintln(stderr, "fake-pct:", err)
		return 2
	}
	if f.Delay > 0 && !isClone(args) { // a clone spends its delay copying, its source locked
		time.Sleep(f.Delay)
	}
	res, err := f.dispatch(args, stdin)
	var refusal *pve.Refusal
	switch {
	case errors.As(err, &refusal):
		fmt.Fprintln(stderr, refusal.Msg)
		return 255
	case err != nil:
		fmt.Fprintln(stderr, "fake-pct: internal error:", err)
		return 2
	}
	if res.sleep > 0 {
		time.Sleep(res.sleep)
	}
	stdout.Write(res.stdout.Bytes())
	stderr.Write(res.stderr.Bytes())
	if res.gate != "" {
		// Held open until the test opens and closes the FIFO: what was
		// printed so far is out (stdout is unbuffered) before pct exits.
		if err := waitGate(res.gate); err != nil {
			fmt.Fprintln(stderr, "fake-pct: gate:", err)
			return 2
		}
		io.WriteString(stdout, res.after)
	}
	return res.code
}

// waitGate blocks until the FIFO at path has been opened for writing and
// closed again.
func waitGate(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

type command func(f *Fake, c *call) error

var commands = map[string]command{
	"create":       (*Fake).create,
	"clone":        (*Fake).clone,
	"set":          (*Fake).set,
	"start":        (*Fake).start,
	"stop":         (*Fake).stop,
	"shutdown":     (*Fake).stop,
	"status":       (*Fake).status,
	"config":       (*Fake).config,
	"list":         (*Fake).list,
	"snapshot":     (*Fake).snapshot,
	"listsnapshot": (*Fake).listsnapshot,
	"delsnapshot":  (*Fake).delsnapshot,
	"rollback":     (*Fake).rollback,
	"destroy":      (*Fake).destroy,
	"push":         (*Fake).push,
	"template":     (*Fake).template,
	"unlock":       (*Fake).unlock,
	"resize":       (*Fake).resize,
	"exec":         (*Fake).exec,
}

// call is one invocation being served.
type call struct {
	op    string
	args  []string // after the op
	stdin io.Reader
	res   *result
}

func (f *Fake) dispatch(args []string, stdin io.Reader) (*result, error) {
	if len(args) == 0 {
		return nil, refuse("ERROR: no command specified\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]")
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return nil, refuse("ERROR: unknown command 'pct %s'\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]", args[0])
	}
	if err := f.injected(args); err != nil {
		return nil, err
	}
	c := &call{op: args[0], args: args[1:], stdin: stdin, res: &result{}}
	if isClone(args) {
		// Proxmox locks the source ("disk") for the whole copy: a second
		// clone of it meanwhile is refused with "CT is locked (disk)".
		if err := f.withState(func() error { return f.setCloneLock(c, true) }); err != nil {
			return nil, err
		}
		if f.Delay > 0 {
			time.Sleep(f.Delay)
		}
		err := f.withState(func() error {
			if err := f.setCloneLock(c, false); err != nil {
				return err
			}
			return cmd(f, c)
		})
		if err != nil {
			return nil, err
		}
		return c.res, nil
	}
	if err := f.withState(func() error { return cmd(f, c) }); err != nil {
		return nil, err
	}
	return c.res, nil
}

// withState runs fn holding the state lock.
func (f *Fake) withState(fn func() error) error {
	unlock, err := lockState(f.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

func isClone(args []string) bool { return len(args) > 0 && args[0] == "clone" }

// setCloneLock takes (on) or drops the "disk" lock of a clone's source.
// Taking it refuses a source that is already locked, as pct does.
func (f *Fake) setCloneLock(c *call, on bool) error {
	_, src, err := parseCT(c, "vmid", "newid")
	if err != nil {
		return err
	}
	sct, err := f.load(src)
	if err != nil {
		return err
	}
	switch {
	case on:
		if err := sct.CheckLock(); err != nil {
			return err
		}
		sct.Lock = "disk"
	case sct.Lock == "disk":
		sct.Lock = ""
	default:
		return nil
	}
	return Save(f.StateDir, src, sct)
}

// injected fails the call when FAKE_PCT_FAIL names it. The ids of a call
// are its leading numeric arguments (clone has two: either matches). A
// rule is op[:id][=KIND][*N]: KIND "locked" answers "CT is locked
// (backup)" and "timeout" the config lock's timeout, as pct does for a
// transient lock; *N fails only the first N matching calls (counted in
// the state directory's fail_counts.json).
func (f *Fake) injected(args []string) error {
	if f.Fail == "" {
		return nil
	}
	var ids []string
	for _, a := range args[1:] {
		if _, err := strconv.Atoi(a); err != nil || len(ids) == 2 {
			break
		}
		ids = append(ids, a)
	}
	for _, rule := range strings.Split(f.Fail, ",") {
		rule = strings.TrimSpace(rule)
		n, counted := 0, false
		if i := strings.LastIndex(rule, "*"); i >= 0 {
			if v, err := strconv.Atoi(rule[i+1:]); err == nil {
				rule, n, counted = rule[:i], v, true
			}
		}
		rule, kind, _ := strings.Cut(rule, "=")
		op, id, hasID := strings.Cut(rule, ":")
		if op != args[0] || (hasID && id != "*" && !contains(ids, id)) {
			continue
		}
		if counted {
			again, err := f.countFailure(rule+"="+kind, n)
			if err != nil || !again {
				return err
			}
		}
		switch kind {
		case "locked":
			return pve.Refuse(pve.MsgLocked("backup"))
		case "timeout":
			ctid := 0
			if len(ids) > 0 {
				ctid, _ = strconv.Atoi(ids[0])
			}
			return pve.Refuse(pve.MsgLockTimeout(ctid))
		}
		return refuse("fake failure injected")
	}
	return nil
}

// countFailure counts one more failure of rule; false once n were made.
func (f *Fake) countFailure(rule string, n int) (bool, error) {
	again := false
	err := f.withState(func() error {
		path := filepath.Join(f.StateDir, "fail_counts.json")
		counts := map[string]int{}
		if data, err := os.ReadFile(path); err == nil {
			_ = json.Unmarshal(data, &counts)
		}
		if counts[rule] >= n {
			return nil
		}
		counts[rule]++
		again = true
		data, _ := json.Marshal(counts)
		return writeFileAtomic(path, data)
	})
	return again, err
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

var vmidRe = regexp.MustCompile(`^[1-9][0-9]{2,8}$`)

// vmid parses a container id argument as pct validates it.
func vmid(s string) (int, error) {
	if !vmidRe.MatchString(s) {
		return 0, refuse("400 Parameter verification failed.\nvmid: invalid format - value does not look like a valid VM ID")
	}
	return strconv.Atoi(s)
}

func notExist(ctid int) error {
	return pve.Refuse(pve.MsgNoConfig(Node, ctid))
}

// load returns an existing container or pct's "does not exist" refusal.
func (f *Fake) load(ctid int) (*Container, error) {
	c, err := Load(f.StateDir, ctid)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, notExist(ctid)
	}
	return c, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
