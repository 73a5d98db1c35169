package luaapi

import (
	"reflect"

	lua "github.com/yuin/gopher-lua"
	luar "layeh.com/gopher-luar"
)

// Plain Go records handed to hooks go through luar (layeh.com/gopher-luar):
// the pct_exec result and hook test's recorded calls. luar exposes every
// exported field and method of what it is given, and lets Lua write into
// maps, slices and pointed-to structs; so what it gets is held to plain
// data: structs by value (no field writes, no `^` or unary minus, which
// luar gives pointers), of types without methods (luarTypes, checked by
// TestLuarTypesHaveNoMethods), and the metatables of those types and of
// their slice and map fields sealed once per state: writes raise, no
// methods, no `+` (slice append).
//
// The config views stay hand-written (value.go, readOnly): a luar map or
// slice is userdata, which Lua 5.1's pairs, ipairs, next, unpack and the
// table library cannot see into (hooks iterate their config), and luar
// would write through it into the decoded config the host holds.

// execRecord is what pct_exec returns: {code, stdout, stderr, ok}.
type execRecord struct {
	Code   int    `luar:"code"`
	Stdout string `luar:"stdout"`
	Stderr string `luar:"stderr"`
	OK     bool   `luar:"ok"`
}

// callRecord is one call of a hook test's t.run, as r.calls and t.called
// give it: {op, cmd, argv, env, line}.
type callRecord struct {
	Op   string            `luar:"op"`
	Cmd  string            `luar:"cmd"`
	Argv []string          `luar:"argv"`
	Env  map[string]string `luar:"env"` // nil (so env is nil in Lua) without opts.env
	Line int               `luar:"line"`
}

// luarTypes are every Go type luar may see from a sandbox: the records and
// the types of their fields that are not scalars.
var luarTypes = []any{execRecord{}, callRecord{}, []string(nil), map[string]string(nil)}

// plain converts v, one of luarTypes, to a read-only Lua value.
func (s *sandbox) plain(v any) lua.LValue {
	if !s.luarSealed {
		s.luarSealed = true
		readOnly := s.L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("read-only: copy the values you want to change")
			return 0
		})
		for _, t := range luarTypes {
			mt := luar.MT(s.L, t)
			mt.RawSetString("__newindex", readOnly)
			mt.RawSetString("__add", lua.LNil)
			mt.RawSetString("methods", s.L.NewTable())
		}
	}
	return luar.New(s.L, v)
}

// plainGo converts what plain made back to Go values shaped as toGo's
// (strings, float64, bool, []any, map[string]any), for t.eq.
func plainGo(v reflect.Value, depth int) any {
	if depth > 64 {
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int64:
		return float64(v.Int())
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plainGo(v.Index(i), depth+1)
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			out[it.Key().String()] = plainGo(it.Value(), depth+1)
		}
		return out
	case reflect.Struct:
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if name := f.Tag.Get("luar"); name != "" && name != "-" {
				if fv := v.Field(i); !(fv.Kind() == reflect.Map && fv.IsNil()) {
					out[name] = plainGo(fv, depth+1)
				}
			}
		}
		return out
	}
	return nil
}
