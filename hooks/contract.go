package hooks

// The functions below are the contract between hooks and cmd/phoenix.
// Their bodies are filled in by the shell-hook and Lua-hook work.
// IsShim and ShimMain are in shim.go; TestOptions and RunTests in
// hooktest.go.
