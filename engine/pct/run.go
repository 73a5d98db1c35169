package pct

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Error is a pct invocation that failed: pct exited non-zero (or could not
// run). It keeps pct's own message.
type Error struct {
	Argv   []string // pct argv, without "pct"
	Stderr string   // pct's message, trimmed
	Err    error    // *exec.ExitError, or why pct could not run
}

func (e *Error) Error() string {
	msg := "pct " + commandName(e.Argv)
	if m := oneLine(e.Stderr); m != "" {
		msg += ": " + m
	}
	return msg + ": " + e.Err.Error()
}

// maxMessage bounds pct's message in an error; the end, where pct puts
// the reason, is kept.
const maxMessage = 1000

// oneLine joins a multi-line message with "; ".
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	out := strings.Join(lines, "; ")
	if len(out) > maxMessage {
		out = "..." + out[len(out)-maxMessage:]
	}
	return out
}

// Unwrap is the exit status and, when pct's message is one of its known
// refusals, that refusal as a typed error of internal/pve (pve.ErrNotExist
// = engine.ErrNotExist, *pve.ErrLocked, pve.ErrNotRunning, ...): callers
// branch with errors.Is / errors.As, not on pct's English.
func (e *Error) Unwrap() []error {
	if typed := pve.Classify(e.Stderr); typed != nil {
		return []error{e.Err, typed}
	}
	return []error{e.Err}
}

// ExitCode is pct's exit status, -1 when it did not exit normally.
func (e *Error) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// commandName is the op and its container ids: "create 901", "clone 900 902".
func commandName(argv []string) string {
	n := 0
	for n < len(argv) && n < 3 && (n == 0 || isDigits(argv[n])) {
		n++
	}
	return strings.Join(argv[:n], " ")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

var (
	// pctMessageRe recognises pct's own failures of `pct exec` (exit 255),
	// as opposed to the command in the container exiting 255.
	pctMessageRe = regexp.MustCompile(`(?m)(Configuration file '[^']*' does not exist|container '[0-9]+' not running!|^Unknown option:|^400 |unable to parse option|lxc-attach: .*(Failed to get init pid|failed to attach))`)
)

// defaultKillGrace is how long pct has between SIGTERM and SIGKILL when
// its context ends.
const defaultKillGrace = 5 * time.Second

// invocation is one run of pct.
type invocation struct {
	argv   []string
	stdin  []byte
	stdout io.Writer // also receives output as it comes, when set
	stderr io.Writer
}

// outcome is what pct printed and how it ended.
type outcome struct {
	stdout, stderr string
	code           int
}

// run runs pct with argv, again after a pause while pct refuses with a
// transient lock error (a task of another clone or a backup holds the
// container), at most b.retries times in all. exec is run once: its
// stderr is the command's, and the command may have done its work.
func (b *Backend) run(ctx context.Context, inv invocation) (outcome, error) {
	for attempt := 1; ; attempt++ {
		out, err := b.runOnce(ctx, inv)
		if err == nil || inv.argv[0] == "exec" || attempt >= b.retries || !pve.IsTransient(err) || ctx.Err() != nil {
			return out, err
		}
		if serr := b.sleep(ctx, retryPause(b.retryBase, attempt-1)); serr != nil {
			return out, err
		}
	}
}

// runOnce runs pct with argv. A non-zero exit is returned as *Error, with
// the outcome still filled in.
func (b *Backend) runOnce(ctx context.Context, inv invocation) (outcome, error) {
	var so, se bytes.Buffer
	cmd := exec.CommandContext(ctx, b.path, inv.argv...)
	if len(b.env) > 0 {
		cmd.Env = append(os.Environ(), b.env...)
	}
	var mu sync.Mutex // the extra writers may be one and the same
	cmd.Stdout = teeWriter(&so, &mu, inv.stdout)
	watch := b.stderr
	if inv.argv[0] == "exec" { // the command's own stderr belongs to the caller alone
		watch = nil
	}
	cmd.Stderr = teeWriter(&se, &mu, inv.stderr, watch)
	if inv.stdin != nil {
		cmd.Stdin = bytes.NewReader(inv.stdin)
	}
	// pct and what it starts (lxc-attach) form one process group, ended
	// together when ctx is done: SIGTERM first, so that a pct task can
	// clean up, SIGKILL after b.killGrace.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var hardKill *time.Timer
	var killMu sync.Mutex
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		killMu.Lock()
		hardKill = time.AfterFunc(b.killGrace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		killMu.Unlock()
		return syscall.Kill(-pgid, syscall.SIGTERM)
	}
	cmd.WaitDelay = b.killGrace + time.Second
	err := cmd.Run()
	killMu.Lock()
	if hardKill != nil {
		hardKill.Stop() // the group is gone: its id may be reused
	}
	killMu.Unlock()
	flushAll(cmd.Stdout, cmd.Stderr)
	out := outcome{stdout: so.String(), stderr: se.String(), code: cmd.ProcessState.ExitCode()}
	if err == nil {
		return out, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return out, &Error{Argv: inv.argv, Stderr: strings.TrimSpace(se.String()), Err: err}
}

// do runs a pct command whose output does not matter.
func (b *Backend) do(ctx context.Context, argv []string) error {
	_, err := b.run(ctx, invocation{argv: argv})
	return err
}

// output runs a pct command and returns its stdout.
func (b *Backend) output(ctx context.Context, argv []string) (string, error) {
	out, err := b.run(ctx, invocation{argv: argv})
	return out.stdout, err
}

// teeWriter writes to buf and, line by line, to every non-nil extra writer.
func teeWriter(buf *bytes.Buffer, mu *sync.Mutex, extra ...io.Writer) io.Writer {
	var ws []io.Writer
	for _, w := range extra {
		if w != nil {
			ws = append(ws, &lineWriter{w: w, mu: mu})
		}
	}
	if len(ws) == 0 {
		return buf
	}
	return &multi{buf: buf, lines: ws}
}

type multi struct {
	buf   *bytes.Buffer
	lines []io.Writer
}

func (m *multi) Write(p []byte) (int, error) {
	m.buf.Write(p)
	for _, w := range m.lines {
		_, _ = w.Write(p) // a slow or broken watcher must not fail the command
	}
	return len(p), nil
}

func (m *multi) flush() {
	for _, w := range m.lines {
		w.(*lineWriter).flush()
	}
}

func flushAll(ws ...io.Writer) {
	for _, w := range ws {
		if m, ok := w.(*multi); ok {
			m.flush()
		}
	}
}

// lineWriter passes whole lines to w as they complete; flush sends the
// unterminated rest.
type lineWriter struct {
	w    io.Writer
	mu   *sync.Mutex
	rest []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.rest = append(l.rest, p...)
	for {
		i := bytes.IndexByte(l.rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.mu.Lock()
		_, err := l.w.Write(l.rest[:i+1])
		l.mu.Unlock()
		if err != nil {
			return len(p), err
		}
		l.rest = l.rest[i+1:]
	}
}

func (l *lineWriter) flush() {
	if len(l.rest) > 0 {
		l.mu.Lock()
		_, _ = l.w.Write(l.rest)
		l.mu.Unlock()
		l.rest = nil
	}
}
