// Package lock keeps Phoenix to one run at a time on a host: an flock(2)
// on a lock file (default /run/lock/phoenix_hypervisor.lock), taken without
// waiting, with the holder's pid, command line and start time written into
// the file so that a second run can say who holds it.
package lock
