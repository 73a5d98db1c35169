package pve

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// An exec's environment never travels on pct's command line, where `ps`
// shows it to every user of the host: the values are written to a file
// that is pushed into the container (mode 0600), and the command runs as
//
//	pct exec CTID -- sh -c EnvFileScript FILE CMD ARGS...
//
// EnvFileScript reads FILE, removes it, and execs CMD with the variables
// set. When reading FILE fails, the EXIT trap still removes it.
const EnvFileScript = `trap 'rm -f "$0"' EXIT; . "$0" && rm -f "$0" && trap - EXIT && exec "$@"`

// envName is a variable name sh can export.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvFile renders env as the lines EnvFileScript reads: `export K='V'`,
// sorted by name. A name sh cannot export is an error.
func EnvFile(env map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		if !envName.MatchString(k) {
			return nil, fmt.Errorf("environment variable name %q: expected letters, digits and '_', not starting with a digit", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		// POSIX single quotes keep every byte, newlines included.
		fmt.Fprintf(&b, "export %s='%s'\n", k, strings.ReplaceAll(env[k], "'", `'\''`))
	}
	return []byte(b.String()), nil
}

// EnvExecArgv is the exec of argv whose environment is in file (already
// in the container): `exec CTID -- sh -c EnvFileScript FILE argv...`.
func EnvExecArgv(ctid int, file string, argv []string) []string {
	return ExecArgv(ctid, append([]string{"sh", "-c", EnvFileScript, file}, argv...), nil)
}

// CutEnvFileExec splits a command run through EnvFileScript into its file
// and the command itself; ok is false for any other command.
func CutEnvFileExec(cmd []string) (file string, rest []string, ok bool) {
	if len(cmd) < 5 || cmd[0] != "sh" || cmd[1] != "-c" || cmd[2] != EnvFileScript {
		return "", nil, false
	}
	return cmd[3], cmd[4:], true
}
