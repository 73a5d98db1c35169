package runlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// fakeClock is the Progress clock of the tests: time moves only when the
// test says so.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func stage(ctid int, name, state string, at time.Time) engine.Event {
	return engine.Event{Time: at, Kind: engine.EventStage, CTID: ctid, Stage: name, State: state}
}

// Away from a terminal, a stage running longer than 10 s gets a line then
// and at every 30 s of its running time; one that ends gets no more.
func TestProgressLinesEvery30s(t *testing.T) {
	clock := &fakeClock{t: t0}
	var out bytes.Buffer
	p := NewProgress(NewConsole(&out, false), ProgressOptions{Now: clock.Now})
	p.Emit(stage(950, "hook", engine.StageRunning, t0))
	p.Emit(stage(901, "create", engine.StageRunning, t0))

	var seen []string
	tickAt := func(d time.Duration) {
		clock.t = t0.Add(d)
		p.Tick()
		seen = append(seen, out.String())
		out.Reset()
	}
	tickAt(9 * time.Second)
	p.Emit(stage(901, "create", engine.StageDone, clock.t)) // short: never shown
	out.Reset()
	tickAt(10 * time.Second)
	tickAt(11 * time.Second)
	tickAt(29 * time.Second)
	tickAt(30 * time.Second)
	tickAt(61 * time.Second)
	tickAt(62 * time.Second)
	tickAt(90 * time.Second)
	tickAt(4 * time.Minute) // late ticks (a busy machine): one line, not the missed ones
	assert.Equal(t, []string{
		"",
		"[950] hook: running 10s …\n",
		"", "",
		"[950] hook: running 30s …\n",
		"[950] hook: running 1m1s …\n",
		"",
		"[950] hook: running 1m30s …\n",
		"[950] hook: running 4m0s …\n",
	}, seen)

	p.Emit(stage(950, "hook", engine.StageDone, clock.t))
	out.Reset()
	tickAt(10 * time.Minute)
	assert.Equal(t, "", seen[len(seen)-1], "an ended stage shows no progress")
}

// The run log and --output json get the same, as events of kind "progress".
func TestProgressEventsInTheRunLogAndJSON(t *testing.T) {
	clock := &fakeClock{t: t0}
	var js bytes.Buffer
	var got []engine.Event
	p := NewProgress(Multi(NewJSON(&js), engine.SinkFunc(func(e engine.Event) { got = append(got, e) })), ProgressOptions{Now: clock.Now})
	p.Emit(stage(950, "hook", engine.StageRunning, t0))
	clock.advance(90 * time.Second)
	p.Tick()

	require.Len(t, got, 2)
	assert.Equal(t, engine.Event{Time: t0.Add(90 * time.Second), Kind: engine.EventProgress, CTID: 950, Stage: "hook", Message: "running 1m30s …"}, got[1])
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	require.Len(t, lines, 2)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &m))
	assert.Equal(t, "progress", m["kind"])
	assert.Equal(t, float64(950), m["ctid"])
	assert.Equal(t, "hook", m["stage"])
	assert.Equal(t, "running 1m30s …", m["message"])

	assert.Equal(t, "ct950/hook", source(got[1]))
	assert.Equal(t, "running 1m30s …", text(got[1]))
}

// On a terminal: a live status, one line per container running longer
// than 10 s, redrawn in place below the event lines; no progress lines.
func TestProgressLiveStatusOnATerminal(t *testing.T) {
	clock := &fakeClock{t: t0}
	var out bytes.Buffer
	con := NewConsole(&out, false)
	con.Live = true
	p := NewProgress(con, ProgressOptions{Now: clock.Now, Status: con.SetStatus})
	p.Emit(stage(950, "hook", engine.StageRunning, t0))
	p.Emit(stage(940, "start", engine.StageRunning, t0.Add(5*time.Second)))

	clock.advance(9 * time.Second)
	p.Tick()
	assert.Equal(t, "", out.String(), "nothing runs long yet")

	clock.advance(3 * time.Second) // 12 s
	p.Tick()
	assert.Equal(t, "[950] hook: running 12s\n", out.String())
	out.Reset()

	clock.advance(4 * time.Second) // 16 s: both
	p.Tick()
	assert.Equal(t, "\x1b[1F\x1b[J[940] start: running 11s\n[950] hook: running 16s\n", out.String(), "cleared and redrawn")
	out.Reset()

	// An event line goes above the status, which is redrawn below it.
	p.Emit(engine.Event{Kind: engine.EventLog, Message: "hello"})
	assert.Equal(t, "\x1b[2F\x1b[Jphoenix: hello\n[940] start: running 11s\n[950] hook: running 16s\n", out.String())
	out.Reset()

	// 940 ends: its line goes at once.
	p.Emit(stage(940, "start", engine.StageDone, clock.t))
	assert.Equal(t, "\x1b[2F\x1b[J[950] hook: running 16s\n\x1b[1F\x1b[J[940] start: done\n[950] hook: running 16s\n", out.String())
	out.Reset()

	// 30 s: a progress event, for the run log; not a console line here.
	clock.advance(14 * time.Second)
	p.Tick()
	assert.Equal(t, "\x1b[1F\x1b[J[950] hook: running 30s\n", out.String())
	out.Reset()

	p.Emit(stage(950, "hook", engine.StageDone, clock.t))
	assert.Equal(t, "\x1b[1F\x1b[J[950] hook: done\n", out.String(), "the last running stage ends: the status is cleared")
}

// Start ticks on its own until stop, which clears the status.
func TestProgressStartStop(t *testing.T) {
	var mu sync.Mutex
	var drawn [][]string
	first := make(chan struct{})
	var once sync.Once
	clock := &fakeClock{t: t0.Add(time.Hour)}
	p := NewProgress(engine.SinkFunc(func(engine.Event) {}), ProgressOptions{
		Now: clock.Now,
		Status: func(lines []string) {
			mu.Lock()
			drawn = append(drawn, lines)
			mu.Unlock()
			once.Do(func() { close(first) })
		},
	})
	p.Emit(stage(950, "hook", engine.StageRunning, t0))
	stop := p.Start(time.Millisecond)
	<-first
	stop()
	stop() // twice is fine
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"[950] hook: running 1h0m0s"}, drawn[0])
	assert.Nil(t, drawn[len(drawn)-1], "stop clears the status")
}
