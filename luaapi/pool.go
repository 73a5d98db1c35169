package luaapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Workers are reused: a plan of 1,000 Lua hooks would otherwise start
// 1,000 processes (about 5-10 ms each) and send each the whole
// configuration. A worker runs one hook at a time, each in a fresh
// sandbox (a new LState: nothing of one hook is reachable from the next),
// and keeps its address-space limit for life. A worker comes back to the
// pool only after a hook that ended cleanly (done reported, no timeout,
// no interrupt); one that timed out, was interrupted, died or misbehaved
// is killed. The configuration travels once per worker: later hooks of
// the same run say SameConfig.

// maxIdleWorkers bounds the pool; a worker beyond it exits when its hook
// is done.
var maxIdleWorkers = max(4, runtime.NumCPU())

type workerProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	dec    *json.Decoder
	stderr *tailBuffer
	exe    string
	mem    uint64
	cfg    *engine.Config // the configuration the worker holds
	used   bool           // it ran a hook before
}

type workerPool struct {
	mu   sync.Mutex
	idle []*workerProc
}

var workers = &workerPool{}

// get returns an idle worker of exe with memory limit mem, or starts one.
func (wp *workerPool) get(exe string, mem uint64) (*workerProc, error) {
	wp.mu.Lock()
	for i := len(wp.idle) - 1; i >= 0; i-- {
		if w := wp.idle[i]; w.exe == exe && w.mem == mem {
			wp.idle = append(wp.idle[:i], wp.idle[i+1:]...)
			wp.mu.Unlock()
			w.stderr.Reset()
			return w, nil
		}
	}
	wp.mu.Unlock()
	return startWorker(exe, mem)
}

// put gives w back for the next hook, or lets it exit.
func (wp *workerPool) put(w *workerProc) {
	w.used = true
	wp.mu.Lock()
	if len(wp.idle) < maxIdleWorkers {
		wp.idle = append(wp.idle, w)
		wp.mu.Unlock()
		return
	}
	wp.mu.Unlock()
	w.close()
}

func startWorker(exe string, mem uint64) (*workerProc, error) {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("lua worker: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("lua worker: %w", err)
	}
	w := &workerProc{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), stderr: &tailBuffer{max: 64 << 10}, exe: exe, mem: mem}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lua worker: start %s: %w", exe, err)
	}
	w.dec = json.NewDecoder(bufio.NewReaderSize(stdout, 64<<10))
	return w, nil
}

// close lets an idle worker exit (its stdin ends); kill ends one at once.
// Either way it is waited for, so no zombie is left.
func (w *workerProc) close() {
	_ = w.stdin.Close()
	go func() { _ = w.cmd.Wait() }()
}

func (w *workerProc) kill() error {
	_ = w.cmd.Process.Kill()
	_ = w.stdin.Close()
	return w.cmd.Wait()
}

// tailBuffer keeps the first max bytes written since the last Reset.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - t.buf.Len(); room > 0 {
		t.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (t *tailBuffer) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Reset()
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
