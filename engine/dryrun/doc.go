// Package dryrun is the Backend of `phoenix plan` and `run --dry-run`: it
// absorbs every mutating call (nothing reaches the host) and keeps the
// state the plan would produce, so later stages and hooks see the
// containers the plan creates, starts and snapshots. Reads answer from the
// real host (through another Backend, when there is one) merged with that
// planned state.
//
// Recording actions for the plan is engine.Observe's job; this package only
// keeps Calls for tests.
package dryrun
