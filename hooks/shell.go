package hooks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/runlog"
)

// Default paths of the old system's layout: its scripts read these files
// directly, so a hook sees them when the run has no other value.
// Where the original system kept its configs (engine.HookEnv's defaults).
const (
	DefaultHypervisorConfig = engine.DefaultHypervisorConfig
	DefaultLXCConfig        = engine.DefaultLXCConfig
)

// EnvVars are the variables Phoenix adds to a shell hook's environment (the
// names `hook_args` may use as ${NAME}): engine.HookEnvVars.
var EnvVars = engine.HookEnvVars

// ErrTimeout is wrapped by the error of a hook that ran out of time.
var ErrTimeout = errors.New("hook timed out")

// stderrTail is how many last stderr lines a failure message quotes.
const stderrTail = 5

// HookEnv returns the variables of EnvVars for req: engine.HookEnv, the
// one definition the Lua hooks and the marker fingerprint share.
func HookEnv(req engine.HookRequest) map[string]string { return engine.HookEnv(req) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// absPath is path made absolute against phoenix's working dir (as it is
// when Abs fails).

var varRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandArgs expands ${NAME} in a container's hook_args (nil: the old
// default, just the CTID) with the hook's environment. Only the names of
// EnvVars are known; any other is an error.
func ExpandArgs(args []string, env map[string]string) ([]string, error) {
	if args == nil {
		args = []string{"${PHOENIX_CTID}"}
	}
	out := make([]string, len(args))
	for i, a := range args {
		var bad string
		out[i] = varRE.ReplaceAllStringFunc(a, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := env[name]
			if !ok && bad == "" {
				bad = name
			}
			return v
		})
		if bad != "" {
			return nil, fmt.Errorf("hook_args[%d]: unknown variable ${%s}: use one of %s", i, bad, strings.Join(EnvVars, ", "))
		}
	}
	return out, nil
}

// environ is os.Environ() with the hook's variables set (they win over
// inherited ones) and extra appended last.
func environ(vars map[string]string, extra ...string) []string {
	env := make([]string, 0, len(os.Environ())+len(vars)+len(extra))
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := vars[k]; ours || k == envShimSocket || k == envIsolateSpec {
			continue
		}
		env = append(env, kv)
	}
	for _, k := range EnvVars {
		env = append(env, k+"="+vars[k])
	}
	return append(env, extra...)
}

// proc is one hook process being run: its output is streamed as events,
// its whole process group is ended on timeout or cancellation.
type proc struct {
	cmd    *exec.Cmd
	ctid   int
	stage  string // the stage its events are labelled with: hook, health
	source string // the hook's file name, for events and messages
	events engine.Sink
	grace  time.Duration
	keep   bool        // hook_keep_processes: leave what the hook started running
	cg     *hookCgroup // real runs: the hook's cgroup (nil: none)

	mu   sync.Mutex
	tail []string // last stderr lines
}

// start starts p.cmd in its own process group with stdin /dev/null and its
// stdout and stderr streamed line by line. setup, if set, runs after the
// start and may report that the process did not get to run the hook.
func (p *proc) start() (wait func() error, err error) {
	if p.cmd.SysProcAttr == nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	p.cmd.SysProcAttr.Setpgid = true
	p.cmd.Stdin = nil // os/exec opens /dev/null
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("hook output pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("hook output pipe: %w", err)
	}
	p.cmd.Stdout, p.cmd.Stderr = outW, errW
	err = p.cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go p.stream(&readers, outR, "INFO", false)
	go p.stream(&readers, errR, "WARN", true)
	wait = func() error {
		err := p.cmd.Wait()
		// A hook must not leave anything running on the host: whatever is
		// left in its cgroup and its process group ends with it.
		if !p.keep {
			p.endLeftovers()
			p.killGroup()
		}
		if !waitTimeout(&readers, p.grace) {
			outR.Close()
			errR.Close()
			readers.Wait()
		}
		return err
	}
	return wait, nil
}

// run starts the process and waits for it, ending its process group when
// ctx ends.
func (p *proc) run(ctx context.Context) error {
	wait, err := p.start()
	if err != nil {
		return err
	}
	return p.waitCtx(ctx, wait)
}

func (p *proc) waitCtx(ctx context.Context, wait func() error) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		p.killGroup()
		<-done
		return ctx.Err()
	}
}

// killGroup sends SIGTERM to the process group, then SIGKILL to what is
// still there after the grace period.
func (p *proc) killGroup() {
	pgid := p.cmd.Process.Pid
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // the group is gone
	}
	deadline := time.Now().Add(p.grace)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if !groupAlive(pgid) {
			return
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// groupAlive reports whether a process of group pgid is still running.
// Zombies do not count: they run nothing.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	des, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", de.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and parens.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && pid > 0 {
			return true
		}
	}
	return false
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// maxLineBytes bounds one output line of a shell hook: the rest of a
// longer line is dropped and the line marked. The pipe is read on to its
// end either way, so the hook never dies of SIGPIPE.
const maxLineBytes = 1 << 20

// stream emits each line of r as an EventOutput as soon as it is read.
func (p *proc) stream(wg *sync.WaitGroup, r io.ReadCloser, level string, keepTail bool) {
	defer wg.Done()
	defer r.Close()
	readLines(r, maxLineBytes, func(line string) {
		if keepTail {
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > stderrTail {
				p.tail = p.tail[len(p.tail)-stderrTail:]
			}
			p.mu.Unlock()
		}
		if p.events != nil {
			p.events.Emit(p.outputEvent(line, level))
		}
	})
}

// readLines calls emit with each line of r, without its "\n" or "\r\n"
// (a last line without "\n" too). A line longer than max bytes is cut
// there and marked with how many bytes were dropped.
func readLines(r io.Reader, max int, emit func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	dropped := 0
	for {
		frag, err := br.ReadSlice('\n')
		eol := err == nil
		if eol {
			frag = frag[:len(frag)-1]
		}
		n := min(max-len(buf), len(frag))
		buf = append(buf, frag[:n]...)
		dropped += len(frag) - n
		last := err != nil && err != bufio.ErrBufferFull
		if eol || (last && (len(buf) > 0 || dropped > 0)) {
			line := string(buf)
			if dropped > 0 {
				line += fmt.Sprintf(" … [line cut at %d bytes, %d more dropped]", max, dropped)
			} else {
				line = strings.TrimSuffix(line, "\r")
			}
			emit(line)
			buf, dropped = buf[:0], 0
		}
		if last {
			return
		}
	}
}

// logLineRE matches a line already in the run log's format, as the old
// scripts' log functions print it:
//
//	echo "$(date '+%Y-%m-%d %H:%M:%S') [INFO] $(basename "$0"): $*" | tee -a "$MAIN_LOG_FILE"
var logLineRE = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}) \[([A-Z]+)\] ([^\s:]+): (.*)$`)

// outputEvent is the event of one line the hook printed. A line that is
// already a run-log line of the hook's own (its source is the hook's file
// name) keeps its time, level and message: the run log then holds it in
// the old format rather than one prefix inside another, and the console
// shows the message at the hook's level.
func (p *proc) outputEvent(line, level string) engine.Event {
	ev := engine.Event{
		Time: time.Now(), Kind: engine.EventOutput, CTID: p.ctid, Stage: p.stage,
		Level: level, Message: line, Source: p.source,
	}
	m := logLineRE.FindStringSubmatch(line)
	if m == nil || m[3] != p.source {
		return ev
	}
	t, err := time.ParseInLocation(runlog.TimeFormat, m[1], time.Local)
	if err != nil {
		return ev
	}
	ev.Time, ev.Level, ev.Message = t, m[2], m[4]
	return ev
}

// warn emits a warning about the hook's run.
func (p *proc) warn(msg string) {
	if p.events != nil {
		p.events.Emit(engine.Event{Time: time.Now(), Kind: engine.EventLog, CTID: p.ctid, Stage: p.stage,
			Level: "WARN", Message: msg, Source: p.source})
	}
}

// lastStderr returns the last lines of stderr, joined for a one-line message.
func (p *proc) lastStderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 0 {
		return "(no stderr output)"
	}
	return strings.Join(p.tail, " | ")
}

// exitError turns the outcome of a hook process into the error the summary
// shows. It does not name the hook: the engine does ("hook <file>: ...").
func (p *proc) exitError(err error, timeout time.Duration, timedOut bool) error {
	if err == nil {
		return nil
	}
	switch {
	case timedOut:
		return fmt.Errorf("%w after %s: its process group was ended; raise hook_timeout or --hook-timeout if it needs longer",
			ErrTimeout, fmtDuration(timeout))
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted: %w", err)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("killed by signal %s; last stderr lines: %s", ws.Signal(), p.lastStderr())
		}
		return fmt.Errorf("exited with code %d; last stderr lines: %s", ee.ExitCode(), p.lastStderr())
	}
	return fmt.Errorf("cannot start it: %w", err)
}

// fmtDuration prints 10m rather than 10m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
