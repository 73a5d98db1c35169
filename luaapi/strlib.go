package luaapi

import (
	"fmt"
	"math/rand/v2"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/phoenix-hypervisor/phoenix/luaapi/internal/pm"
)

// setBounded replaces the builtins that can allocate without limit or run
// for long inside one VM instruction, and makes the table helpers respect
// read-only config tables.
func (s *sandbox) setBounded(g, str *lua.LTable) {
	L := s.L
	set := func(t *lua.LTable, name string, fn lua.LGFunction) { t.RawSetString(name, L.NewFunction(fn)) }
	set(str, "rep", s.strRep)
	set(str, "byte", s.strByte)
	set(str, "format", s.strFormat)
	set(str, "find", s.strFind)
	set(str, "match", s.strMatch)
	set(str, "gsub", s.strGsub)
	gmatch := L.NewFunction(s.strGmatch)
	str.RawSetString("gmatch", gmatch)
	str.RawSetString("gfind", lua.LNil)

	tab := g.RawGetString("table").(*lua.LTable)
	s.origTable = map[string]*lua.LFunction{}
	for _, name := range []string{"insert", "remove", "sort", "concat", "maxn", "getn"} {
		if f, ok := tab.RawGetString(name).(*lua.LFunction); ok {
			s.origTable[name] = f
		}
	}
	set(tab, "concat", s.tabConcat)
	for _, name := range []string{"insert", "remove", "sort"} {
		name := name
		set(tab, name, func(L *lua.LState) int {
			s.refuseReadOnly(L, 1)
			return s.callOrig(L, s.origTable[name])
		})
	}
	tab.RawSetString("setn", lua.LNil)

	set(g, "unpack", s.baseUnpack)
	set(g, "pairs", s.basePairs)
	set(g, "ipairs", s.baseIpairs)
	set(g, "next", s.baseNext)
	set(g, "rawset", func(L *lua.LState) int {
		s.refuseReadOnly(L, 1)
		L.RawSet(L.CheckTable(1), L.CheckAny(2), L.CheckAny(3))
		L.SetTop(1)
		return 1
	})
	set(g, "setmetatable", func(L *lua.LState) int {
		t := L.CheckTable(1)
		L.CheckTypes(2, lua.LTNil, lua.LTTable)
		if mt, ok := t.Metatable.(*lua.LTable); ok && mt.RawGetString("__metatable") != lua.LNil {
			L.RaiseError("cannot change a protected metatable")
		}
		t.Metatable = L.Get(2)
		L.SetTop(1)
		return 1
	})
	set(g, "print", s.basePrint)
	set(g.RawGetString("math").(*lua.LTable), "random", mathRandom)
}

// mathRandom is Lua 5.1's math.random: stock gopher-lua panics in
// rand.Intn on an empty interval (math.random(0), math.random(5, 1)).
func mathRandom(L *lua.LState) int {
	var lo, hi int64
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(rand.Float64()))
		return 1
	case 1:
		lo, hi = 1, L.CheckInt64(1)
	default:
		lo, hi = L.CheckInt64(1), L.CheckInt64(2)
	}
	if lo > hi {
		L.ArgError(L.GetTop(), "interval is empty")
	}
	n := uint64(hi-lo) + 1 // wraps to 0 only for the full int64 range
	if n == 0 || n > 1<<53 {
		L.ArgError(L.GetTop(), "interval is too large")
	}
	L.Push(lua.LNumber(lo + int64(rand.Uint64N(n))))
	return 1
}

func (s *sandbox) callOrig(L *lua.LState, fn *lua.LFunction) int {
	top := L.GetTop()
	L.Insert(fn, 1)
	L.Call(top, lua.MultRet)
	return L.GetTop()
}

func (s *sandbox) refuseReadOnly(L *lua.LState, n int) {
	if t, ok := L.Get(n).(*lua.LTable); ok {
		if _, ro := s.readonly[t]; ro {
			L.RaiseError("config is read-only: copy the values you want to change")
		}
	}
}

// data returns the table whose entries t shows: the backing table of a
// read-only proxy, or t itself.
func (s *sandbox) data(t *lua.LTable) *lua.LTable {
	if b, ok := s.readonly[t]; ok {
		return b
	}
	return t
}

func (s *sandbox) tooBig(L *lua.LState, what string, n int) {
	L.RaiseError("%s would be %d bytes, more than the limit of %d", what, n, s.lim.MaxStringBytes)
}

func (s *sandbox) strRep(L *lua.LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || len(str) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	if n > s.lim.MaxStringBytes/len(str) {
		s.tooBig(L, "string.rep result", len(str)*min(n, s.lim.MaxStringBytes))
	}
	L.Push(lua.LString(strings.Repeat(str, n)))
	return 1
}

// strFormat bounds widths and precisions as Lua 5.1 does (two digits) and
// the total size, then formats like stock gopher-lua.
func (s *sandbox) strFormat(L *lua.LState) int {
	f := L.CheckString(1)
	size := len(f)
	arg := 2
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		digits := 0
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			i++
			digits++
		}
		if i < len(f) && f[i] == '.' {
			i++
			p := 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
				p++
			}
			digits = max(digits, p)
		}
		if digits > 2 {
			L.ArgError(1, "invalid format (width or precision too long)")
		}
		if i >= len(f) {
			L.ArgError(1, "invalid format (ends with '%')")
		}
		size += 100
		// Lua 5.1's conversions and argument checks: Go's fmt would
		// otherwise print "%!d(MISSING)", or dump a table with %#v.
		switch verb := f[i]; {
		case verb == 's' || verb == 'q':
			size += len(L.CheckString(arg))
		case strings.IndexByte("dicoxXeEfgG", verb) >= 0:
			L.Replace(arg, L.CheckNumber(arg))
		default:
			L.ArgError(1, fmt.Sprintf("invalid option '%%%c' to 'format' (known: d i c o x X e E f g G q s)", verb))
		}
		arg++
		if size > s.lim.MaxStringBytes {
			s.tooBig(L, "string.format result", size)
		}
	}
	args := make([]any, 0, L.GetTop()-1)
	for i := 2; i <= L.GetTop(); i++ {
		args = append(args, L.Get(i))
	}
	npat := strings.Count(f, "%") - 2*strings.Count(f, "%%")
	L.Push(lua.LString(fmt.Sprintf(f, args[:min(max(npat, 0), len(args))]...)))
	return 1
}

func (s *sandbox) budget() *pm.Budget {
	return &pm.Budget{Steps: s.lim.MaxPatternSteps, Check: s.guard.Context.Err}
}

func (s *sandbox) find(L *lua.LState, pattern, str string, offset, limit int) []*pm.MatchData {
	mds, err := pm.Find(pattern, []byte(str), offset, limit, s.budget())
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return mds
}

func strIndex(str string, i int, start bool) int {
	if start && i != 0 {
		i--
	}
	l := len(str)
	if i < 0 {
		i = l + i + 1
	}
	i = max(0, i)
	if !start && i > l {
		i = l
	}
	return i
}

func pushCaptures(L *lua.LState, str string, md *pm.MatchData, whole bool) int {
	if md.CaptureLength() == 2 {
		if whole {
			L.Push(lua.LString(str[md.Capture(0):md.Capture(1)]))
			return 1
		}
		return 0
	}
	n := 0
	for i := 2; i < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			L.Push(lua.LNumber(md.Capture(i)))
		} else {
			L.Push(lua.LString(str[md.Capture(i):md.Capture(i+1)]))
		}
		n++
	}
	return n
}

func (s *sandbox) strFind(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	init := strIndex(str, L.OptInt(3, 1), true)
	if init > len(str) {
		L.Push(lua.LNil)
		return 1
	}
	if pattern == "" {
		L.Push(lua.LNumber(init + 1))
		L.Push(lua.LNumber(init))
		return 2
	}
	if lua.LVAsBool(L.Get(4)) {
		pos := strings.Index(str[init:], pattern)
		if pos < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + pos + 1))
		L.Push(lua.LNumber(init + pos + len(pattern)))
		return 2
	}
	mds := s.find(L, pattern, str, init, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	md := mds[0]
	L.Push(lua.LNumber(md.Capture(0) + 1))
	L.Push(lua.LNumber(md.Capture(1)))
	return 2 + pushCaptures(L, str, md, false)
}

func (s *sandbox) strMatch(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	offset := L.OptInt(3, 1)
	if offset < 0 {
		offset = len(str) + offset + 1
	}
	offset = max(offset-1, 0)
	if offset > len(str) {
		L.Push(lua.LNil)
		return 1
	}
	mds := s.find(L, pattern, str, offset, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	return pushCaptures(L, str, mds[0], true)
}

func (s *sandbox) strGmatch(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	mds := s.find(L, pattern, str, 0, -1)
	i := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if i >= len(mds) {
			return 0
		}
		md := mds[i]
		i++
		return pushCaptures(L, str, md, true)
	}))
	return 1
}

// strGsub builds the result once (stock gopher-lua copies the whole
// string for every replacement: quadratic, gopher-lua issue #521) and
// bounds its size.
func (s *sandbox) strGsub(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	L.CheckTypes(3, lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction)
	repl := L.Get(3)
	limit := L.OptInt(4, -1)
	mds := s.find(L, pattern, str, 0, limit)
	var b strings.Builder
	last := 0
	for _, md := range mds {
		start, end := md.Capture(0), md.Capture(1)
		b.WriteString(str[last:start])
		whole := str[start:end]
		var out lua.LValue
		switch r := repl.(type) {
		case lua.LString, lua.LNumber:
			out = lua.LString(expandRepl(L, lua.LVAsString(r), str, md))
		case *lua.LTable:
			out = L.GetTable(r, firstCapture(str, md))
		case *lua.LFunction:
			L.Push(r)
			n := pushCaptures(L, str, md, true)
			L.Call(n, 1)
			out = L.Get(-1)
			L.Pop(1)
		}
		switch o := out.(type) {
		case lua.LString:
			b.WriteString(string(o))
		case lua.LNumber:
			b.WriteString(o.String())
		case *lua.LNilType:
			b.WriteString(whole)
		case lua.LBool:
			if o {
				L.RaiseError("invalid replacement value (a boolean)")
			}
			b.WriteString(whole)
		default:
			L.RaiseError("invalid replacement value (a %s)", out.Type().String())
		}
		last = end
		if b.Len() > s.lim.MaxStringBytes {
			s.tooBig(L, "string.gsub result", b.Len())
		}
	}
	b.WriteString(str[last:])
	if b.Len() > s.lim.MaxStringBytes {
		s.tooBig(L, "string.gsub result", b.Len())
	}
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(len(mds)))
	return 2
}

func firstCapture(str string, md *pm.MatchData) lua.LValue {
	if md.CaptureLength() == 2 {
		return lua.LString(str[md.Capture(0):md.Capture(1)])
	}
	if md.IsPosCapture(2) {
		return lua.LNumber(md.Capture(2))
	}
	return lua.LString(str[md.Capture(2):md.Capture(3)])
}

// expandRepl expands %0-%9 and %% in a gsub replacement string.
func expandRepl(L *lua.LState, repl, str string, md *pm.MatchData) string {
	if !strings.Contains(repl, "%") {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		d := repl[i]
		if d < '0' || d > '9' {
			b.WriteByte(d)
			continue
		}
		idx := int(d - '0')
		switch {
		case idx == 0 || idx == 1 && md.CaptureLength() == 2:
			b.WriteString(str[md.Capture(0):md.Capture(1)])
		case 2*idx < md.CaptureLength():
			if md.IsPosCapture(2 * idx) {
				fmt.Fprint(&b, md.Capture(2*idx))
			} else {
				b.WriteString(str[md.Capture(2*idx):md.Capture(2*idx+1)])
			}
		default:
			L.RaiseError("invalid capture index %%%d", idx)
		}
	}
	return b.String()
}

func (s *sandbox) tabConcat(L *lua.LState) int {
	t := s.data(L.CheckTable(1))
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	if j-i > s.lim.MaxTableLen {
		L.ArgError(4, "range too large")
	}
	size := 0
	for k := i; k <= j; k++ {
		switch v := t.RawGetInt(k).(type) {
		case lua.LString:
			size += len(v)
		case lua.LNumber:
			size += 24
		default:
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		size += len(sep)
		if size > s.lim.MaxStringBytes {
			s.tooBig(L, "table.concat result", size)
		}
	}
	var b strings.Builder
	b.Grow(size)
	for k := i; k <= j; k++ {
		if k > i {
			b.WriteString(sep)
		}
		b.WriteString(lua.LVAsString(t.RawGetInt(k)))
	}
	L.Push(lua.LString(b.String()))
	return 1
}

const maxUnpack = 8000

func (s *sandbox) strByte(L *lua.LState) int {
	str := L.CheckString(1)
	i := strIndex(str, L.OptInt(2, 1), true)
	j := strIndex(str, L.OptInt(3, L.OptInt(2, 1)), false)
	if i >= j {
		return 0
	}
	if j-i > maxUnpack {
		L.RaiseError("string.byte: too many results (%d, at most %d)", j-i, maxUnpack)
	}
	for k := i; k < j; k++ {
		L.Push(lua.LNumber(str[k]))
	}
	return j - i
}

func (s *sandbox) baseUnpack(L *lua.LState) int {
	t := s.data(L.CheckTable(1))
	i := L.OptInt(2, 1)
	j := L.OptInt(3, t.Len())
	if i > j {
		return 0
	}
	if j-i >= maxUnpack {
		L.RaiseError("too many results to unpack (%d, at most %d)", j-i+1, maxUnpack)
	}
	for k := i; k <= j; k++ {
		L.Push(t.RawGetInt(k))
	}
	return j - i + 1
}

func (s *sandbox) baseNext(L *lua.LState) int {
	t := s.data(L.CheckTable(1))
	k, v := t.Next(L.Get(2))
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(v)
	return 2
}

// basePairs iterates read-only tables without handing out their backing
// table (which would be writable).
func (s *sandbox) basePairs(L *lua.LState) int {
	t := L.CheckTable(1)
	d := s.data(t)
	L.Push(L.NewFunction(func(L *lua.LState) int {
		k, v := d.Next(L.Get(2))
		if k == lua.LNil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(k)
		L.Push(v)
		return 2
	}))
	L.Push(t)
	L.Push(lua.LNil)
	return 3
}

func (s *sandbox) baseIpairs(L *lua.LState) int {
	t := L.CheckTable(1)
	d := s.data(t)
	L.Push(L.NewFunction(func(L *lua.LState) int {
		i := L.CheckInt(2) + 1
		v := d.RawGetInt(i)
		if v == lua.LNil {
			return 0
		}
		L.Push(lua.LNumber(i))
		L.Push(v)
		return 2
	}))
	L.Push(t)
	L.Push(lua.LNumber(0))
	return 3
}
