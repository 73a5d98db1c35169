package luaapi

import (
	"sort"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// Check compiles a hook and looks, without running it, for the globals
// it reads that the sandbox does not define: neither the API, nor the
// standard library, nor a global the hook assigns somewhere (`x = ...`,
// `function f() end`, `_G.x = ...`). It also checks fields of the
// sandbox's own tables (`string.frmat`, `log.inf`). The walk is over the
// compiled function prototypes (GETGLOBAL, SETGLOBAL and table accesses on
// a register just loaded from a global), so it sees every function of the
// file, called or not. Nil: the hook is fine.
func Check(path string, src []byte) []*HookError {
	proto, err := compile(path, src, DefaultLimits.MaxSourceBytes)
	if err != nil {
		he, ok := err.(*HookError)
		if !ok {
			he = &HookError{File: path, Message: err.Error()}
		}
		return []*HookError{he}
	}
	u := scanGlobals(proto)
	var out []*HookError
	for _, r := range u.reads {
		if msg := u.undefined(r.name); msg != "" {
			out = append(out, &HookError{File: path, Line: r.line, Message: msg})
		}
	}
	return out
}

// globalUse is what a hook's code does with global names.
type globalUse struct {
	assigned map[string]bool // "name" or "lib.field"
	reads    []globalRead    // in code order, each name once
}

type globalRead struct {
	name string // "name" or "lib.field"
	line int
}

// Instruction decoding, as gopher-lua's opcode.go (unexported there).
func opCode(i uint32) int { return int(i >> 26) }
func opA(i uint32) int    { return int(i>>18) & 0xff }
func opB(i uint32) int    { return int(i & 0x1ff) }
func opC(i uint32) int    { return int(i>>9) & 0x1ff }
func opBx(i uint32) int   { return int(i & 0x3ffff) }

const opBitRK = 1 << 8 // an RK operand naming a constant

func scanGlobals(proto *lua.FunctionProto) *globalUse {
	u := &globalUse{assigned: map[string]bool{}}
	seen := map[string]bool{}
	var walk func(p *lua.FunctionProto)
	walk = func(p *lua.FunctionProto) {
		// loaded[r] is the global register r was last loaded from;
		// strs[r] the string constant (gopher-lua's SETTABLEKS takes its
		// key from a register a LOADK just set).
		loaded, strs := map[int]string{}, map[int]string{}
		constant := func(k int) (string, bool) {
			if k&opBitRK == 0 {
				s, ok := strs[k]
				return s, ok
			}
			if k&^opBitRK >= len(p.Constants) {
				return "", false
			}
			s, ok := p.Constants[k&^opBitRK].(lua.LString)
			return string(s), ok
		}
		read := func(name string, pc int) {
			if seen[name] {
				return
			}
			seen[name] = true
			line := 0
			if pc < len(p.DbgSourcePositions) {
				line = p.DbgSourcePositions[pc]
			}
			u.reads = append(u.reads, globalRead{name: name, line: line})
		}
		for pc, inst := range p.Code {
			a := opA(inst)
			switch opCode(inst) {
			case lua.OP_GETGLOBAL:
				name := lua.LVAsString(p.Constants[opBx(inst)])
				read(name, pc)
				loaded[a] = name
				delete(strs, a)
				continue
			case lua.OP_LOADK:
				delete(loaded, a)
				if k, ok := p.Constants[opBx(inst)].(lua.LString); ok {
					strs[a] = string(k)
				} else {
					delete(strs, a)
				}
				continue
			case lua.OP_SETGLOBAL:
				u.assigned[lua.LVAsString(p.Constants[opBx(inst)])] = true
				continue
			case lua.OP_GETTABLEKS, lua.OP_GETTABLE:
				if g, ok := loaded[opB(inst)]; ok {
					if k, ok := constant(opC(inst)); ok {
						if g == "_G" {
							read(k, pc)
						} else {
							read(g+"."+k, pc)
						}
					}
				}
			case lua.OP_SETTABLEKS, lua.OP_SETTABLE:
				if g, ok := loaded[a]; ok {
					if k, ok := constant(opB(inst)); ok {
						if g == "_G" {
							u.assigned[k] = true
						} else {
							u.assigned[g+"."+k] = true
						}
					}
				}
				continue // R(A) is not written
			case lua.OP_SELF:
				// obj:method(): R(A+1) := R(B), R(A) := R(B)[RK(C)]
				if g, ok := loaded[opB(inst)]; ok {
					if k, ok := constant(opC(inst)); ok && g != "_G" {
						read(g+"."+k, pc)
					}
				}
				delete(loaded, a+1)
			case lua.OP_EQ, lua.OP_LT, lua.OP_LE, lua.OP_TEST, lua.OP_JMP, lua.OP_RETURN,
				lua.OP_SETUPVAL, lua.OP_SETLIST, lua.OP_CLOSE:
				continue // R(A) is not written
			}
			// Every other instruction writes R(A); calls, varargs, loops
			// and LOADNIL the registers above it too.
			forget(loaded, a, writesAbove(opCode(inst)))
			forget(strs, a, writesAbove(opCode(inst)))
		}
		for _, f := range p.FunctionPrototypes {
			walk(f)
		}
	}
	walk(proto)
	return u
}

// forget drops what register a held, and those above it if above.
func forget(regs map[int]string, a int, above bool) {
	for r := range regs {
		if r == a || above && r > a {
			delete(regs, r)
		}
	}
}

func writesAbove(op int) bool {
	switch op {
	case lua.OP_CALL, lua.OP_TAILCALL, lua.OP_VARARG, lua.OP_TFORLOOP, lua.OP_LOADNIL, lua.OP_FORLOOP, lua.OP_FORPREP:
		return true
	}
	return false
}

// undefined is the message for a read of name ("x" or "lib.field"), or ""
// when the name is defined.
func (u *globalUse) undefined(name string) string {
	if u.assigned[name] {
		return ""
	}
	known := sandboxNames()
	if known[name] {
		return ""
	}
	lib, _, isField := cut(name)
	if isField && (!known[lib] || !libTables()[lib] || u.assigned[lib]) {
		return "" // a field of the hook's own table: not ours to judge
	}
	if !isField {
		if why, ok := notInSandbox[name]; ok {
			return name + ": not available in the sandbox: " + why
		}
	}
	msg := "undefined: " + name
	if s := suggest(name, known); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return msg
}

func cut(name string) (lib, field string, ok bool) {
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			return name[:i], name[i+1:], true
		}
	}
	return name, "", false
}

// notInSandbox says what to use instead of what the sandbox removed.
var notInSandbox = map[string]string{
	"os":             "use pct_exec to run a command in the container",
	"io":             "use pct_exec to run a command in the container, pct_push to write a file there",
	"require":        "a hook is one file; use pct_exec to run a command in the container",
	"dofile":         "a hook is one file; use pct_exec to run a command in the container",
	"loadfile":       "a hook is one file; use pct_exec to run a command in the container",
	"package":        "a hook is one file; use pct_exec to run a command in the container",
	"module":         "a hook is one file",
	"load":           "hooks cannot load code",
	"loadstring":     "hooks cannot load code",
	"debug":          "use log.debug to log, error() to fail",
	"coroutine":      "hooks run straight through",
	"getfenv":        "hooks cannot change environments",
	"setfenv":        "hooks cannot change environments",
	"collectgarbage": "the sandbox manages memory itself",
}

// sandboxNames are the globals of a fresh sandbox and the fields of its
// library tables ("string.format"), built once.
var sandboxNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	g := bareSandbox()
	g.ForEach(func(k, v lua.LValue) {
		name := lua.LVAsString(k)
		names[name] = true
		if t, ok := v.(*lua.LTable); ok && name != "_G" {
			t.ForEach(func(f, _ lua.LValue) { names[name+"."+lua.LVAsString(f)] = true })
		}
	})
	return names
})

// libTables are the globals whose fields Check knows.
var libTables = sync.OnceValue(func() map[string]bool {
	libs := map[string]bool{}
	bareSandbox().ForEach(func(k, v lua.LValue) {
		if _, ok := v.(*lua.LTable); ok && lua.LVAsString(k) != "_G" {
			libs[lua.LVAsString(k)] = true
		}
	})
	return libs
})

// bareSandbox returns the globals table of a sandbox that never runs.
func bareSandbox() *lua.LTable {
	s := &sandbox{readonly: map[*lua.LTable]*lua.LTable{}}
	s.L = lua.NewState(lua.Options{SkipOpenLibs: true})
	s.openLibs()
	g := s.L.G.Global
	s.L.Close()
	return g
}

// suggest is the known name closest to name, within an edit distance of
// 2 (1 for names of 4 characters or fewer); "" if none.
func suggest(name string, known map[string]bool) string {
	limit := 2
	if len(name) <= 4 {
		limit = 1
	}
	lib, _, isField := cut(name)
	var cands []string
	for k := range known {
		kl, _, kf := cut(k)
		if kf != isField || isField && kl != lib {
			continue
		}
		cands = append(cands, k)
	}
	sort.Strings(cands) // ties go the same way every time
	best, bestD := "", limit+1
	for _, k := range cands {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// strictGlobals makes reading a global the hook never assigns an error
// that names it, at run time too: `pct_exe(...)` says "undefined: pct_exe
// (did you mean pct_exec?)", not "attempt to call a non-function object".
// Only the names the code spells out are strict: `_G[name]` with a
// computed name is nil when absent, as in Lua. Only reads of names absent
// from _G reach __index.
func (s *sandbox) strictGlobals(proto *lua.FunctionProto) {
	u := scanGlobals(proto)
	spelled := map[string]bool{}
	for _, r := range u.reads {
		spelled[r.name] = true
	}
	L := s.L
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		name, ok := L.Get(2).(lua.LString)
		if !ok || !spelled[string(name)] {
			return 0
		}
		if msg := u.undefined(string(name)); msg != "" {
			L.RaiseError("%s", msg)
		}
		return 0
	}))
	mt.RawSetString("__metatable", lua.LString("protected"))
	L.G.Global.Metatable = mt
}
