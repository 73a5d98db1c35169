package luaapi

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// events collects what a hook emits.
type events struct {
	mu sync.Mutex
	ev []engine.Event
}

func (e *events) Emit(ev engine.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *events) all() []engine.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]engine.Event(nil), e.ev...)
}

func runningFake(ctid int) *memhost.Backend {
	b := memhost.New()
	b.Put(ctid, &memhost.Container{Running: true})
	return b
}

// run runs src as the hook of container 950 on a running fake container.
func run(t *testing.T, src string, mod ...func(*Options)) (error, *memhost.Backend, *events) {
	t.Helper()
	b := runningFake(950)
	ev := &events{}
	o := Options{CTID: 950, Path: "/hooks/phoenix_hypervisor_setup_950.lua", Source: []byte(src), Backend: b, Events: ev,
		Limits: Limits{Timeout: 5 * time.Second}}
	for _, m := range mod {
		m(&o)
	}
	return Run(context.Background(), o), b, ev
}

func hookErr(t *testing.T, err error) *HookError {
	t.Helper()
	require.Error(t, err)
	var he *HookError
	require.True(t, errors.As(err, &he), "want *HookError, got %T: %v", err, err)
	return he
}

func TestTrivialHookSucceeds(t *testing.T) {
	err, _, ev := run(t, `log.info("hello %s %d", "ct", phoenix.ctid)`)
	require.NoError(t, err)
	got := ev.all()
	require.Len(t, got, 1)
	require.Equal(t, "hello ct 950", got[0].Message)
	require.Equal(t, "phoenix_hypervisor_setup_950.lua:1", got[0].Source)
	require.Equal(t, "INFO", got[0].Level)
}

func TestErrorCarriesFileAndLine(t *testing.T) {
	err, _, _ := run(t, "local x = 1\n\nerror('boom')\n")
	he := hookErr(t, err)
	require.Equal(t, 3, he.Line)
	require.Equal(t, "boom", he.Message)
	require.Equal(t, "/hooks/phoenix_hypervisor_setup_950.lua:3: boom", he.Error())
	require.Contains(t, he.Traceback, "stack traceback:")
}
