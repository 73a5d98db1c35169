// Package luaapi is the Lua sandbox hooks run in and the API it exposes
// (phoenix, pct_exec, pct_push, config, log, sleep). It knows nothing about
// hook discovery.
package luaapi
