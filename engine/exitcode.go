package engine

import "errors"

// Exit codes of the phoenix command: the contract scripts rely on.
const (
	ExitOK          = 0   // all requested containers done
	ExitFailed      = 1   // one or more containers failed; others went on
	ExitUsage       = 2   // usage error or invalid configuration; nothing changed
	ExitEnvironment = 3   // pct missing, another run holds the lock, ...
	ExitInterrupted = 130 // Ctrl-C
)

// ExitError carries the exit code a command should end with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps err to the process exit code: an *ExitError anywhere in
// the chain decides; any other non-nil error is ExitFailed.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailed
}
