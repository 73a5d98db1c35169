package luaapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func init() {
	// A single `t[67108863] = 1` would otherwise append 64M nils to the
	// array part in one VM instruction (about 1 GiB, with no chance to
	// check a limit). Beyond this index integer keys go to the hash part.
	lua.MaxArrayIndex = 1 << 21
}

// removed are the base functions a hook must not have: they load code,
// reach files, change environments or expose the collector.
var removed = []string{
	"dofile", "loadfile", "load", "loadstring", "require", "module",
	"getfenv", "setfenv", "collectgarbage", "newproxy", "_printregs",
	"gcinfo", "_GOPHER_LUA_VERSION",
}

// sandbox is one hook run: a fresh LState and what its API needs. It is
// never reused.
type sandbox struct {
	L     *lua.LState
	o     Options
	lim   Limits
	chunk string // base name of the hook file, the source of positions
	ctx   context.Context
	guard *guard

	readonly  map[*lua.LTable]*lua.LTable // proxy -> backing data
	origTable map[string]*lua.LFunction

	mu       sync.Mutex
	secrets  []string
	logLines int
	dropped  int
	calls    int
	spent    int // bytes of argv, env and paths handed to the backend

	luarSealed bool // luar's metatables of luarTypes made read-only (plain)
}

// Run runs the hook o.Source in a fresh sandbox. A failure of the hook is
// a *HookError carrying the file, line, message and traceback.
func Run(ctx context.Context, o Options) error {
	s, cancel, err := newSandbox(ctx, o)
	if err != nil {
		return err
	}
	defer cancel()
	defer s.close()
	return s.run()
}

// Compile checks the hook's syntax without running it, for validate.
func Compile(path string, src []byte) error {
	_, err := compile(path, src, DefaultLimits.MaxSourceBytes)
	return err
}

func compile(path string, src []byte, max int) (*lua.FunctionProto, error) {
	name := filepath.Base(path)
	if len(src) > max {
		return nil, &HookError{File: path, Message: fmt.Sprintf("hook is %d bytes, more than the limit of %d: split it or trim it", len(src), max)}
	}
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		line := 0
		var pe *parse.Error
		if errors.As(err, &pe) {
			line = pe.Pos.Line
			msg := pe.Message
			if line < 1 { // at the end of the file
				line = bytes.Count(src, []byte("\n")) + 1
				msg += " at the end of the file (a missing 'end' or ')'?)"
			} else if pe.Token != "" {
				msg += " near '" + pe.Token + "'"
			}
			if !strings.HasPrefix(msg, "syntax error") {
				msg = "syntax error: " + msg
			}
			return nil, &HookError{File: path, Line: line, Message: msg}
		}
		return nil, &HookError{File: path, Message: "syntax error: " + err.Error()}
	}
	if err := checkDepth(chunk); err != nil {
		var de *depthError
		errors.As(err, &de)
		return nil, &HookError{File: path, Line: de.line, Message: err.Error()}
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, &HookError{File: path, Line: ce.Line, Message: ce.Message}
		}
		return nil, &HookError{File: path, Message: err.Error()}
	}
	return proto, nil
}

func newSandbox(parent context.Context, o Options) (*sandbox, context.CancelFunc, error) {
	if o.Backend == nil {
		return nil, nil, errors.New("lua sandbox: no backend given")
	}
	lim := o.Limits.withDefaults()
	ctx, cancel := parent, context.CancelFunc(func() {})
	if lim.Timeout > 0 {
		ctx, cancel = context.WithTimeout(parent, lim.Timeout)
	}
	s := &sandbox{o: o, lim: lim, chunk: filepath.Base(o.Path), ctx: ctx, readonly: map[*lua.LTable]*lua.LTable{}}
	if s.chunk == "." || s.chunk == "" {
		s.chunk = "hook.lua"
	}
	s.L = lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    lim.MaxCallStack,
		RegistrySize:     1024,
		RegistryMaxSize:  lim.MaxRegistry,
		RegistryGrowStep: 1024,
		// The fixed call stack, not the auto-growing one: gopher-lua's
		// auto-growing stack never reports itself full, so an overflow
		// panics inside Push instead of raising "stack overflow", and a
		// pcall that catches it leaves the frames of the caller corrupt
		// (stale values returned, then an index out of range). A fixed
		// stack of MaxCallStack frames is a few KiB.
		MinimizeStackMemory: false,
	})
	s.openLibs()
	s.guard = newGuard(ctx, s.L, lim)
	if o.onLine != nil {
		last := 0
		s.guard.tick = func() {
			if line := s.hookLine(0); line > 0 && line != last {
				last = line
				o.onLine(line)
			}
		}
	}
	s.L.SetContext(s.guard)
	return s, cancel, nil
}

func (s *sandbox) close() {
	s.guard.stop()
	s.L.Close()
}

func (s *sandbox) openLibs() {
	L := s.L
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range removed {
		g.RawSetString(name, lua.LNil)
	}
	// OpenBase also registers the _G of the loaders; make sure nothing of
	// package/os/io/debug/coroutine/channel is reachable.
	for _, name := range []string{"package", "os", "io", "debug", "coroutine", "channel"} {
		g.RawSetString(name, lua.LNil)
	}
	str := g.RawGetString("string").(*lua.LTable)
	str.RawSetString("dump", lua.LNil)
	math := g.RawGetString("math").(*lua.LTable)
	math.RawSetString("randomseed", lua.LNil) // seeds a process-wide generator
	// The string metatable is the shared string library in stock
	// gopher-lua; give strings a protected one of their own.
	L.SetMetatable(lua.LString(""), s.newTable(map[string]lua.LValue{
		"__index":     str,
		"__metatable": lua.LString("protected"),
	}))
	s.setBounded(g, str)
	s.setAPI(g)
}

func (s *sandbox) newTable(fields map[string]lua.LValue) *lua.LTable {
	t := s.L.CreateTable(0, len(fields))
	for k, v := range fields {
		t.RawSetString(k, v)
	}
	return t
}

func (s *sandbox) run() error {
	proto, err := compile(s.o.Path, s.o.Source, s.lim.MaxSourceBytes)
	if err != nil {
		return err
	}
	s.strictGlobals(proto)
	err = s.call(s.L.NewFunctionFromProto(proto))
	s.flushDropped()
	if err == nil {
		return nil
	}
	return s.hookError(err)
}

// call runs fn protected. No error handler is given to PCall: gopher-lua
// pushes the handler onto the value stack while recovering, and on a full
// stack ("registry overflow") that second panic escapes PCall and would
// end the process. The traceback PCall records instead is enough to find
// the line. Anything that still escapes is recovered here.
func (s *sandbox) call(fn *lua.LFunction) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in the Lua VM: %v", r)
		}
	}()
	s.L.Push(fn)
	return s.L.PCall(0, 0, nil)
}

var tracePosition = regexp.MustCompile(`(?m)^\t([^\s:]+):(\d+):`)

// traceLine finds the innermost line of the hook's own code in a
// gopher-lua traceback.
func (s *sandbox) traceLine(trace string) int {
	for _, m := range tracePosition.FindAllStringSubmatch(trace, -1) {
		if m[1] == s.chunk {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return 0
}

// hookLine is the current line of the innermost frame running the hook's
// own code, skipping Go functions; from is the first level looked at.
func (s *sandbox) hookLine(from int) int {
	for level := from; level < s.lim.MaxCallStack+2; level++ {
		dbg, ok := s.L.GetStack(level)
		if !ok {
			break
		}
		if _, err := s.L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			continue
		}
		if dbg.CurrentLine > 0 && dbg.Source == s.chunk {
			return dbg.CurrentLine
		}
	}
	return 0
}

var positionPrefix = regexp.MustCompile(`^([^\s:]+):(\d+):\s?`)

// hookError turns a PCall error into a *HookError.
func (s *sandbox) hookError(err error) error {
	he := &HookError{File: s.o.Path}
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		he.Message = describe(ae.Object)
		if ae.Type == lua.ApiErrorPanic {
			he.Message = "internal error: " + ae.Object.String()
		}
		he.Traceback = ae.StackTrace
		he.Line = s.traceLine(ae.StackTrace)
	} else {
		he.Message = err.Error()
	}
	// "file.lua:12: message" from error()/RaiseError: take the line of the
	// hook itself when it is there, and drop the prefix.
	if m := positionPrefix.FindStringSubmatch(he.Message); m != nil && m[1] == s.chunk {
		if n, _ := strconv.Atoi(m[2]); n > 0 {
			he.Line = n
		}
		he.Message = he.Message[len(m[0]):]
	} else if m != nil && m[1] == "<string>" {
		he.Message = he.Message[len(m[0]):]
	}
	if he.Message == "stack overflow" || strings.Contains(he.Message, "callstack overflow") {
		he.Message = fmt.Sprintf("stack overflow (more than %d nested calls)", s.lim.MaxCallStack)
	}
	if cause := s.guard.cause(); cause != nil {
		he.Message = cause.Error()
	} else if err := s.ctx.Err(); err != nil {
		he.Message = s.timeoutCause(err).Error()
	}
	he.Message = truncate(escapeControl(s.scrub(he.Message), false), s.lim.MaxErrorBytes)
	he.Traceback = s.scrub(he.Traceback)
	return he
}

// timeoutCause explains why the hook's context ended.
func (s *sandbox) timeoutCause(parentErr error) error {
	if errors.Is(parentErr, context.DeadlineExceeded) {
		if s.lim.Timeout > 0 {
			return fmt.Errorf("hook timed out after %s: raise --hook-timeout if it needs longer", s.lim.Timeout)
		}
		return errors.New("hook timed out: raise --hook-timeout if it needs longer")
	}
	return errors.New("interrupted")
}

// addSecret remembers a secret so that the sandbox scrubs it from whatever
// it emits, and registers it with the run's redactor.
func (s *sandbox) addSecret(v string) {
	s.mu.Lock()
	for _, x := range []string{v, strings.TrimSpace(v)} {
		if len(x) >= 4 {
			s.secrets = append(s.secrets, x)
		}
	}
	s.mu.Unlock()
	if s.o.Redact != nil {
		s.o.Redact(v)
	}
}

func (s *sandbox) scrub(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.secrets {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, "[REDACTED]")
		}
	}
	return text
}

// origin is the context for a backend call made at the hook's current
// line; it also counts the call against MaxBackendCalls.
func (s *sandbox) origin() context.Context {
	s.calls++
	if s.calls > s.lim.MaxBackendCalls {
		s.L.RaiseError("more than %d container calls in one hook run: is a loop running away?", s.lim.MaxBackendCalls)
	}
	src := s.chunk
	if line := s.hookLine(1); line > 0 {
		src = s.chunk + ":" + strconv.Itoa(line)
	}
	return engine.WithOrigin(s.ctx, engine.Origin{CTID: s.o.CTID, Stage: s.o.stage(), Source: src})
}

// spend counts n bytes the hook hands to the backend against
// MaxActionBytes. Every call becomes an action the run keeps until it ends
// (the plan prints them all): without a bound, 10,000 calls of a 1 MiB
// argv would hold 10 GiB in the phoenix process, not in the worker.
func (s *sandbox) spend(L *lua.LState, n int) {
	s.spent += n
	if s.spent > s.lim.MaxActionBytes {
		L.RaiseError("more than %s of commands and paths in one hook run: the run keeps every one as an action; pass large data as stdin or push it as a file", byteSize(s.lim.MaxActionBytes))
	}
}

func byteSize(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + " MiB"
	}
	return strconv.Itoa(n) + " bytes"
}

// sleepCtx waits d or until the hook's context ends.
func (s *sandbox) sleepCtx(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return s.timeoutCause(s.ctx.Err())
	case <-t.C:
		return nil
	}
}
