package luaapi

import (
	"context"
	"fmt"
	"reflect"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// guard is the context the VM checks before every instruction. Its Done
// method runs on the VM's goroutine, so when the monitor asks for a check
// (every tick) it can look at the state's values safely: a string or a
// table grown past the limits, or a process heap past MaxHeapBytes, ends
// the hook the same way a timeout does. gopher-lua has no allocation hook;
// this is what stops `s = s .. s` and table growth loops in time.
//
// A guard must only be given to L.SetContext: never use it as the parent
// of another context (Done would then run on another goroutine).
type guard struct {
	context.Context
	cancel context.CancelCauseFunc
	L      *lua.LState
	lim    Limits

	tick   func()      // called on every check, on the VM goroutine; may be nil
	flag   atomic.Bool // set by the monitor: check at the next instruction
	heapHi atomic.Bool // set by the monitor: the process heap is over the limit
	memErr error       // only touched on the VM goroutine
}

func newGuard(parent context.Context, L *lua.LState, lim Limits) *guard {
	ctx, cancel := context.WithCancelCause(parent)
	g := &guard{Context: ctx, cancel: cancel, L: L, lim: lim}
	mon.add(g)
	return g
}

func (g *guard) stop() {
	mon.remove(g)
	g.cancel(nil)
}

// Done is called by the VM before each instruction.
func (g *guard) Done() <-chan struct{} {
	if g.flag.Load() {
		g.flag.Store(false)
		g.check()
	}
	return g.Context.Done()
}

// Err reports the limit that stopped the hook, if any, so the VM's error
// names it.
func (g *guard) Err() error {
	if g.memErr != nil {
		return g.memErr
	}
	return g.Context.Err()
}

func (g *guard) cause() error { return g.memErr }

func (g *guard) fail(err error) {
	if g.memErr == nil {
		g.memErr = err
		g.cancel(err)
	}
}

func (g *guard) check() {
	if g.memErr != nil {
		return
	}
	if g.tick != nil {
		g.tick()
	}
	if g.heapHi.Load() {
		g.fail(fmt.Errorf("memory limit exceeded: the process heap passed %d MiB while this hook ran", g.lim.MaxHeapBytes>>20))
		return
	}
	L := g.L
	if n := tailCalls(L); n > maxTailCalls {
		g.fail(fmt.Errorf("too many tail calls: more than %d `return f(...)` in a row; is a loop running away?", maxTailCalls))
		return
	}
	for i, top := 1, L.GetTop(); i <= top; i++ {
		if err := g.checkValue(L.Get(i)); err != nil {
			g.fail(err)
			return
		}
	}
	// Globals, one level and a bounded number of them.
	k, v := L.G.Global.Next(lua.LNil)
	for n := 0; k != lua.LNil && n < 512; n++ {
		if err := g.checkValue(v); err != nil {
			g.fail(err)
			return
		}
		k, v = L.G.Global.Next(k)
	}
}

func (g *guard) checkValue(v lua.LValue) error {
	switch x := v.(type) {
	case lua.LString:
		if len(x) > g.lim.MaxStringBytes {
			return fmt.Errorf("memory limit exceeded: a string of %d bytes (the limit is %d)", len(x), g.lim.MaxStringBytes)
		}
	case *lua.LTable:
		if n := x.Len(); n > g.lim.MaxTableLen {
			return fmt.Errorf("memory limit exceeded: a table of %d entries (the limit is %d)", n, g.lim.MaxTableLen)
		}
	}
	return nil
}

// monitor ticks every running guard and watches the process heap.
type monitor struct {
	mu      sync.Mutex
	guards  map[*guard]struct{}
	running bool
}

var mon = &monitor{guards: map[*guard]struct{}{}}

const monitorTick = 2 * time.Millisecond

func (m *monitor) add(g *guard) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.guards[g] = struct{}{}
	if !m.running {
		m.running = true
		go m.loop()
	}
}

func (m *monitor) remove(g *guard) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.guards, g)
}

func (m *monitor) loop() {
	t := time.NewTicker(monitorTick)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for tick := 0; ; tick++ {
		<-t.C
		var heap uint64
		if tick%4 == 0 {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				heap = sample[0].Value.Uint64()
			}
		}
		m.mu.Lock()
		if len(m.guards) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		for g := range m.guards {
			if heap > 0 && heap > g.lim.MaxHeapBytes {
				g.heapHi.Store(true)
			}
			g.flag.Store(true)
		}
		m.mu.Unlock()
	}
}

// maxTailCalls bounds the tail calls folded into the frames of the
// running stack. gopher-lua counts them per frame without limit, and
// building the traceback of an error takes 16 bytes and some time per
// counted call: a `return f(n + 1)` loop stopped after minutes would need
// gigabytes just to report that it timed out.
const maxTailCalls = 1 << 20

// tailCalls sums gopher-lua's per-frame tail-call counters of the running
// stack. They are unexported (callFrame.TailCall), so reflect reads them;
// if gopher-lua renames them this returns 0 and TestLimitTailCallLoop*
// fail.
func tailCalls(L *lua.LState) int {
	dbg, ok := L.GetStack(0)
	if !ok {
		return 0
	}
	total := 0
	f := reflect.ValueOf(dbg).Elem().FieldByName("frame")
	for i := 0; i < 1<<16 && f.IsValid() && f.Kind() == reflect.Pointer && !f.IsNil(); i++ {
		fr := f.Elem()
		if tc := fr.FieldByName("TailCall"); tc.IsValid() && tc.CanInt() {
			total += int(tc.Int())
		}
		f = fr.FieldByName("Parent")
	}
	return total
}
