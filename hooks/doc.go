// Package hooks finds each container's hook (phoenix_hypervisor_setup_<CTID>.lua
// or .sh in the hooks dir) and runs it: legacy shell hooks exactly as the
// old orchestrator did (with a recording pct shim and an isolation in
// dry-run), Lua hooks in the luaapi sandbox. Runner implements
// engine.HookRunner.
package hooks
