package lxc

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"time"
)

// toolTailLines is how many of a failed tool's last output lines its
// error carries.
const toolTailLines = 6

// ToolError is the failure of an outside tool (lxc-*, debootstrap, cp,
// tar): the command and the tool's own last stderr lines (its last stdout
// lines when it wrote nothing to stderr), which say why.
type ToolError struct {
	Argv []string
	Tail []string // the last lines, oldest first
	Err  error    // *exec.ExitError, or why it could not run
}

func (e *ToolError) Error() string {
	msg := strings.Join(e.Argv, " ") + ": " + e.Err.Error()
	if len(e.Tail) > 0 {
		msg += ": " + strings.Join(e.Tail, "; ")
	}
	return msg
}

func (e *ToolError) Unwrap() error { return e.Err }

// runTool runs cmd, keeping the end of what it writes to stdout and
// stderr (besides cmd.Stdout and cmd.Stderr, which still get everything).
// A failure is a *ToolError with the tool's last lines.
func runTool(cmd *exec.Cmd) error {
	outTail, errTail := &tailBuffer{max: 4096}, &tailBuffer{max: 4096}
	cmd.Stdout = teeTo(cmd.Stdout, outTail)
	cmd.Stderr = teeTo(cmd.Stderr, errTail)
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	err := cmd.Run()
	if err == nil {
		return nil
	}
	tail := lastLinesOf(errTail.String(), toolTailLines)
	if len(tail) == 0 {
		tail = lastLinesOf(outTail.String(), toolTailLines)
	}
	return &ToolError{Argv: cmd.Args, Tail: tail, Err: err}
}

func teeTo(w io.Writer, tail io.Writer) io.Writer {
	if w == nil {
		return tail
	}
	return io.MultiWriter(w, tail)
}

// lastLinesOf is the last n non-blank lines of s, trimmed.
func lastLinesOf(s string, n int) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// lxcLogArgs makes an LXC tool print its errors: without a log priority
// LXC's tools write nothing to stderr when they fail (lxc-snapshot's
// "Failed to rsync from ..." is only in a log nobody keeps).
func lxcLogArgs(tool string, args []string) []string {
	if !strings.HasPrefix(tool, "lxc-") {
		return args
	}
	for _, a := range args {
		if a == "-l" || strings.HasPrefix(a, "--logpriority") {
			return args
		}
	}
	return append([]string{"--logpriority=ERROR"}, args...)
}

// run runs one tool with args and returns its stdout; a failure is a
// *ToolError with the tool's own last lines.
func (b *Backend) run(ctx context.Context, stdin []byte, tool string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, tool, lxcLogArgs(tool, args)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := runTool(cmd)
	return out.String(), err
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
