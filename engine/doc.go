// Package engine is the orchestrator core of Phoenix: the configuration
// model and its validation, the dependency plan, the built-in stages, the
// scheduler, the Backend interface with its implementations, the run log
// and the exit codes.
//
// Every action on a container goes through one Backend. Built-in stages,
// Lua hooks and legacy shell hooks all reach containers through it, so
// dry-run, logging and test fakes behave the same for all of them.
//
// The lifecycle verbs (lifecycle*.go: status, graph, start, stop, restart,
// destroy) act on a deployment a run built, with the same machinery: the
// plan's DAG for their order, Stage values and ctRun for their events and
// results, Observe for what a dry-run previews.
//
// engine imports none of Phoenix's other packages: hooks are handed to it
// through the HookRunner interface.
package engine
