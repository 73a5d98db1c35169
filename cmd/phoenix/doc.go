// Command phoenix provisions Proxmox VE LXC containers from the JSON
// configuration of the original bash system (phoenix_hypervisor_config.json,
// phoenix_lxc_configs.json) and runs each container's hook.
//
// main stays thin: it dispatches to the pct shim when invoked under a
// shimmed name, then hands os.Args, the process environment and a
// signal-cancelled context to run (app.go), which the tests call in-process
// with buffers and a fake environment.
package main
