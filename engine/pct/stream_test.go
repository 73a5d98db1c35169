package pct

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/fakepct"
)

// gateWriter opens the fake pct's gate (a FIFO) when the first line
// arrives: the command, held open until then, can only end if its first
// line reached the writer while it still ran.
type gateWriter struct {
	mu    sync.Mutex
	gate  string
	got   []byte
	early string // what had arrived when the gate opened
	err   error
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got = append(g.got, p...)
	if g.gate != "" {
		g.early = string(g.got)
		f, err := os.OpenFile(g.gate, os.O_WRONLY, 0)
		if err == nil {
			err = f.Close()
		}
		g.err, g.gate = err, ""
	}
	return len(p), nil
}

// TestExecStreamsWhileRunning: Exec's writers get each line as pct exec
// prints it, not when it has ended. Without streaming the fake pct would
// wait at its gate until the context's deadline.
func TestExecStreamsWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901)
	require.NoError(t, h.Start(ctx(t), 901))
	gate := filepath.Join(t.TempDir(), "gate")
	require.NoError(t, syscall.Mkfifo(gate, 0o600))
	require.NoError(t, fakepct.WriteExecRules(h.state, []fakepct.ExecRule{
		{Match: `^bash /tmp/phoenix_run/app.sh$`, Stdout: "first line\n", Gate: gate, After: "second line\n"},
	}))
	w := &gateWriter{gate: gate}
	res, err := h.Exec(ctx(t), 901, []string{"bash", "/tmp/phoenix_run/app.sh"}, engine.ExecOptions{Stdout: w})
	require.NoError(t, err)
	require.NoError(t, w.err)
	assert.Equal(t, "first line\n", w.early, "the first line came while pct exec still ran")
	assert.Equal(t, "first line\nsecond line\n", string(w.got))
	assert.Equal(t, "first line\nsecond line\n", res.Stdout)
}
