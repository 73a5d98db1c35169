package luaapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	lua "github.com/yuin/gopher-lua"
)

// readOnly converts decoded JSON data into Lua values. Maps and lists
// become read-only tables: writes raise "config is read-only"; pairs,
// ipairs, next, # and unpack see the data. Every call makes a new copy,
// so nothing a hook does reaches the host's config or another hook.
func (s *sandbox) readOnly(v any, depth int) lua.LValue {
	if depth > 64 {
		return lua.LNil
	}
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return lua.LString(x.String())
		}
		return lua.LNumber(f)
	case []any:
		d := s.L.CreateTable(len(x), 0)
		for i, e := range x {
			d.RawSetInt(i+1, s.readOnly(e, depth+1))
		}
		return s.proxy(d)
	case []string:
		d := s.L.CreateTable(len(x), 0)
		for i, e := range x {
			d.RawSetInt(i+1, lua.LString(e))
		}
		return s.proxy(d)
	case map[string]any:
		d := s.L.CreateTable(0, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // stable iteration order for hooks and tests
		for _, k := range keys {
			d.RawSetString(k, s.readOnly(x[k], depth+1))
		}
		return s.proxy(d)
	default:
		// Plain data only: anything else is shown as text, never handed to
		// Lua as an object with methods.
		return lua.LString(fmt.Sprint(x))
	}
}

func (s *sandbox) proxy(data *lua.LTable) *lua.LTable {
	L := s.L
	p := L.NewTable()
	mt := L.CreateTable(0, 4)
	mt.RawSetString("__index", data)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("config is read-only: copy the values you want to change")
		return 0
	}))
	mt.RawSetString("__len", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(data.Len()))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("read-only"))
	p.Metatable = mt
	s.readonly[p] = data
	return p
}

// toGo converts plain Lua data (tables of strings, numbers, booleans; read-only
// config tables included) to Go values, for the test API. Tables with only
// keys 1..n become lists.
func (s *sandbox) toGo(v lua.LValue, depth int) any {
	if depth > 64 {
		return nil
	}
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return float64(x)
	case lua.LBool:
		return bool(x)
	case *lua.LUserData:
		return plainGo(reflect.ValueOf(x.Value), depth) // what plain made
	case *lua.LTable:
		x = s.data(x)
		n := x.Len()
		count := 0
		x.ForEach(func(lua.LValue, lua.LValue) { count++ })
		if n > 0 && n == count {
			out := make([]any, n)
			for i := 1; i <= n; i++ {
				out[i-1] = s.toGo(x.RawGetInt(i), depth+1)
			}
			return out
		}
		out := map[string]any{}
		x.ForEach(func(k, e lua.LValue) { out[lua.LVAsString(k)] = s.toGo(e, depth+1) })
		return out
	default:
		return nil
	}
}
