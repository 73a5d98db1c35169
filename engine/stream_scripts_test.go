package engine_test

import (
	"fmt"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// streamSink records output events and, for each stage, closes a
// channel when the stage's first output line arrives.
type streamSink struct {
	events
	mu    sync.Mutex
	first map[string]chan struct{}
}

func newStreamSink(stages ...string) *streamSink {
	s := &streamSink{first: map[string]chan struct{}{}}
	for _, st := range stages {
		s.first[st] = make(chan struct{})
	}
	return s
}

func (s *streamSink) Emit(e engine.Event) {
	s.events.Emit(e)
	if e.Kind != engine.EventOutput {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.first[e.Stage]; ok {
		close(ch)
		delete(s.first, e.Stage)
	}
}

func (s *streamSink) arrived(stage string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.first[stage]; ok {
		return ch
	}
	done := make(chan struct{})
	close(done)
	return done
}

// outputOf is each output line of stage, in order.
func (s *streamSink) outputOf(ctid int, stage string) []string {
	var out []string
	for _, e := range s.Of(engine.EventOutput) {
		if e.CTID == ctid && e.Stage == stage {
			out = append(out, e.Message)
		}
	}
	return out
}

// TestScriptsStreamOutputWhileRunning: the output of a shell feature hook,
// the application script and the in-container health check reaches the
// events line by line while the command still runs, labelled with the
// container and the stage, each line once; a failing application script's
// error quotes its last lines in the order they came.
func TestScriptsStreamOutputWhileRunning(t *testing.T) {
	t.Parallel()
	ct := laterContainer()
	ct.Named = []string{"base_setup"}
	ct.Later = engine.Later{
		ApplicationScript: "phoenix_hypervisor_lxc_960.sh",
		HealthCheck:       &engine.HealthCheck{Command: "curl -fs localhost:8000", Retries: 1, Interval: time.Millisecond},
	}
	cfg := oneConfig(ct)
	dir := writeFiles(t, map[string]string{
		"phoenix_hypervisor_feature_install_base_setup.sh": "#!/bin/sh\necho base\n",
		"phoenix_hypervisor_lxc_960.sh":                    "#!/bin/bash\necho app\n",
	})
	hooks := &fileHooks{stubHooks: *luaHooks(cfg), dir: dir}
	sink := newStreamSink(engine.StageFeatures, engine.StageApp, engine.StageHealth)
	host := newHost()
	var mu sync.Mutex
	streamed := map[string]bool{} // stage -> its first line was an event before the command ended
	// Each command prints its first line, then is held until that line
	// is an event of its stage: the exec has not returned yet.
	hold := func(stage string, o engine.ExecOptions, first string) {
		if o.Stdout == nil {
			return // not streamed: nothing to wait for
		}
		_, _ = o.Stdout.Write([]byte(first + "\n"))
		select {
		case <-sink.arrived(stage):
			mu.Lock()
			streamed[stage] = true
			mu.Unlock()
		case <-time.After(10 * time.Second): // a guard against a hang, not a measurement
		}
	}
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		switch {
		case len(argv) == 2 && argv[0] == "bash" && path.Base(argv[1]) == "phoenix_hypervisor_feature_install_base_setup.sh":
			hold(engine.StageFeatures, o, "base: step 1")
			return engine.ExecResult{Stdout: "base: step 1\nbase: step 2\nbase: step 3\n"}, writeRest(o, "base: step 2\n", "base: step 3\n")
		case len(argv) == 2 && argv[0] == "bash" && path.Base(argv[1]) == "phoenix_hypervisor_lxc_960.sh":
			hold(engine.StageApp, o, "app: step 1")
			writeRest(o, "app: step 2\n")
			if o.Stderr != nil {
				_, _ = o.Stderr.Write([]byte("app: cannot reach the model server\n"))
			}
			writeRest(o, "app: giving up\n")
			return engine.ExecResult{Code: 3, Stdout: "app: step 1\napp: step 2\napp: giving up\n", Stderr: "app: cannot reach the model server\n"}, true
		case len(argv) == 3 && argv[2] == "curl -fs localhost:8000":
			hold(engine.StageHealth, o, "health: ok")
			return engine.ExecResult{Stdout: "health: ok\n"}, true
		}
		return engine.ExecResult{}, false
	}

	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, Events: sink})
	c := container(t, res, 960)
	require.Equal(t, engine.StageFailed, c.State, "%+v", c)
	assert.True(t, streamed[engine.StageFeatures], "the feature hook's first line came before its exec returned")
	assert.True(t, streamed[engine.StageApp], "the application script's first line came before its exec returned")
	assert.Equal(t, []string{"base: step 1", "base: step 2", "base: step 3"}, sink.outputOf(960, engine.StageFeatures))
	assert.Equal(t, []string{"app: step 1", "app: step 2", "app: cannot reach the model server", "app: giving up"}, sink.outputOf(960, engine.StageApp))
	app := stageOf(c, engine.StageApp)
	require.NotNil(t, app)
	assert.Equal(t, "application script phoenix_hypervisor_lxc_960.sh: exit 3: app: step 1 | app: step 2 | app: cannot reach the model server | app: giving up", app.Detail)

	// The health check, on a run where the script passes.
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		if len(argv) == 3 && argv[2] == "curl -fs localhost:8000" {
			hold(engine.StageHealth, o, "health: ok")
			return engine.ExecResult{Stdout: "health: ok\n"}, true
		}
		return engine.ExecResult{}, false
	}
	res = run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, Events: sink})
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%+v", container(t, res, 960))
	assert.True(t, streamed[engine.StageHealth], "the health check's output came before its exec returned")
	assert.Equal(t, []string{"health: ok"}, sink.outputOf(960, engine.StageHealth))
}

// writeRest streams more lines of an Exec_ answer, when there is a writer;
// it reports the answer handled.
func writeRest(o engine.ExecOptions, lines ...string) bool {
	if o.Stdout != nil {
		for _, l := range lines {
			_, _ = fmt.Fprint(o.Stdout, l)
		}
	}
	return true
}
