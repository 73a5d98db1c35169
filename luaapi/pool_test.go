package luaapi

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func idleWorkers() []*workerProc {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	return append([]*workerProc(nil), workers.idle...)
}

// drainWorkers empties the pool, so a test sees only its own workers.
func drainWorkers(t *testing.T) {
	t.Helper()
	workers.mu.Lock()
	idle := workers.idle
	workers.idle = nil
	workers.mu.Unlock()
	for _, w := range idle {
		w.close()
	}
}

// Hooks run one after the other reuse one worker, each in a fresh
// sandbox: nothing of one is visible to the next; the configuration
// travels once.
func TestWorkerIsReusedWithAFreshSandbox(t *testing.T) {
	drainWorkers(t)
	cfg := testConfig()
	err, _ := runIsolated(t, "LEFT = 'x'\nassert(config.container().name == 'vllm')", func(o *Options) { o.Config = cfg })
	require.NoError(t, err)
	idle := idleWorkers()
	require.Len(t, idle, 1)
	first := idle[0]
	require.Same(t, cfg, first.cfg)
	err, _ = runIsolated(t, "assert(rawget(_G, 'LEFT') == nil, 'a global leaked')\nassert(config.container().name == 'vllm')", func(o *Options) { o.Config = cfg })
	require.NoError(t, err)
	idle = idleWorkers()
	require.Len(t, idle, 1)
	require.Same(t, first, idle[0], "the same worker ran the second hook")
}

// A worker whose hook timed out or died is never reused; one that died
// while idle is replaced without the hook noticing.
func TestWorkerNotReusedAfterTroubleAndReplacedWhenDeadIdle(t *testing.T) {
	drainWorkers(t)
	err, _ := runIsolated(t, "while true do end", func(o *Options) { o.Limits.Timeout = 300 * time.Millisecond })
	require.ErrorContains(t, err, "timed out")
	require.Empty(t, idleWorkers())

	require.NoError(t, func() error { err, _ := runIsolated(t, "log.info('ok')"); return err }())
	idle := idleWorkers()
	require.Len(t, idle, 1)
	require.NoError(t, idle[0].cmd.Process.Kill())
	_, _ = idle[0].cmd.Process.Wait()
	err, ev := runIsolated(t, "log.info('after')")
	require.NoError(t, err)
	require.Equal(t, "after", ev.all()[0].Message)
	require.Len(t, idleWorkers(), 1)
	require.NotSame(t, idle[0], idleWorkers()[0])
}

// The pool is bounded: beyond maxIdleWorkers a worker exits after its hook.
func TestWorkerPoolIsBounded(t *testing.T) {
	drainWorkers(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	ws := make([]*workerProc, maxIdleWorkers+2)
	for i := range ws {
		ws[i], err = startWorker(exe, DefaultWorkerMemory)
		require.NoError(t, err)
	}
	for _, w := range ws {
		workers.put(w)
	}
	require.Len(t, idleWorkers(), maxIdleWorkers)
	drainWorkers(t)
}
