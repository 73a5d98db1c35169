// Package luaapi is the Lua sandbox hooks run in and the API it exposes
// (phoenix, pct_exec, pct_push, pct_snapshot, pct_status, config, log,
// sleep). It knows nothing about hook discovery.
//
// Every run gets a fresh gopher-lua state with only the base, string,
// table and math libraries; config reaches Lua as read-only copies; every
// effect goes through the engine.Backend given, with the hook's line as
// its origin. Time, call depth, value sizes, pattern matching, log volume
// and container calls are bounded (Limits), and RunIsolated runs a hook in
// a memory-limited worker process. RunTestFile runs the *_test.lua files
// of `phoenix hook test`. See README.md and phoenix.d.lua.
package luaapi
