package runlog

import (
	"sort"
	"sync"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Progress thresholds: a stage running longer than ProgressAfter shows it
// is alive; away from a terminal, with a line (an EventProgress) then and
// at every multiple of ProgressEvery of its running time.
const (
	ProgressAfter = 10 * time.Second
	ProgressEvery = 30 * time.Second
)

// Progress passes every event on to next and keeps track of the stages
// that are running. Each Tick it emits an EventProgress to next for every
// stage due for one ("[950] hook: running 1m30s …" in the console and the
// run log, "kind":"progress" in --output json) and redraws the live status
// (a terminal's: one line per container whose stage runs longer than
// ProgressAfter). The clock is Now; Tick is called by Start's ticker, or
// by a test.
type Progress struct {
	mu      sync.Mutex
	next    engine.Sink
	now     func() time.Time
	status  func(lines []string)
	running map[stageKey]*runningStage
}

type stageKey struct {
	ctid  int
	stage string
}

type runningStage struct {
	since time.Time
	due   time.Duration // running time of the next progress event
}

// ProgressOptions configure a Progress.
type ProgressOptions struct {
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Status, when set, shows the live status lines (Console.SetStatus of
	// a terminal); nil lines clear them.
	Status func(lines []string)
}

// NewProgress returns a Progress in front of next.
func NewProgress(next engine.Sink, o ProgressOptions) *Progress {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Progress{next: next, now: o.Now, status: o.Status, running: map[stageKey]*runningStage{}}
}

var _ engine.Sink = (*Progress)(nil)

// Emit passes e on; a stage's running and end events start and stop its
// tracking.
func (p *Progress) Emit(e engine.Event) {
	if e.Kind == engine.EventStage && e.CTID != 0 {
		p.track(e)
	}
	p.next.Emit(e)
}

// track starts or ends the tracking of e's stage; an ended one leaves the
// status before its end is shown.
func (p *Progress) track(e engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := stageKey{e.CTID, e.Stage}
	if e.State == engine.StageRunning {
		since := e.Time
		if since.IsZero() {
			since = p.now()
		}
		p.running[k] = &runningStage{since: since, due: ProgressAfter}
		return
	}
	if _, ok := p.running[k]; ok {
		delete(p.running, k)
		p.drawStatus(p.now())
	}
}

// Tick emits the progress events that are due and redraws the status.
func (p *Progress) Tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for _, k := range p.keys() {
		r := p.running[k]
		elapsed := now.Sub(r.since)
		if elapsed < r.due {
			continue
		}
		for r.due <= elapsed { // one event, however many were missed
			r.due = (r.due/ProgressEvery + 1) * ProgressEvery
		}
		p.next.Emit(engine.Event{Time: now, Kind: engine.EventProgress, CTID: k.ctid, Stage: k.stage,
			Message: "running " + roundDuration(elapsed) + " …"})
	}
	p.drawStatus(now)
}

// drawStatus shows one line per stage running longer than ProgressAfter.
// p.mu is held.
func (p *Progress) drawStatus(now time.Time) {
	if p.status == nil {
		return
	}
	var lines []string
	for _, k := range p.keys() {
		if d := now.Sub(p.running[k].since); d >= ProgressAfter {
			lines = append(lines, "["+itoa(k.ctid)+"] "+k.stage+": running "+roundDuration(d))
		}
	}
	p.status(lines)
}

// keys are the running stages by CTID, then stage.
func (p *Progress) keys() []stageKey {
	ks := make([]stageKey, 0, len(p.running))
	for k := range p.running {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].ctid != ks[j].ctid {
			return ks[i].ctid < ks[j].ctid
		}
		return ks[i].stage < ks[j].stage
	})
	return ks
}

// Start calls Tick every interval until the returned stop, which also
// clears the status.
func (p *Progress) Start(interval time.Duration) (stop func()) {
	t := time.NewTicker(interval)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-t.C:
				p.Tick()
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.Stop()
			close(done)
			<-finished
			if p.status != nil {
				p.mu.Lock()
				p.status(nil)
				p.mu.Unlock()
			}
		})
	}
}

// roundDuration is d to the second: "1m30s", "10s".
func roundDuration(d time.Duration) string { return d.Truncate(time.Second).String() }
