package pve

import (
	"crypto/rand"
	"encoding/hex"
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

// An exec with an environment is two pct calls (EnvExecCalls): the push
// of the env file, then the exec through EnvFileScript. The file's name
// is random per exec (NewEnvFile), and the plan, which cannot know it,
// shows EnvFilePlaceholder in its place: a name a plan could predict
// could be predicted by a process in the container too, which could
// create it first in the world-writable /tmp (a symlink, or a file it
// keeps open) and so read the secrets pushed into it, or rewrite the
// variables of a command that runs as root. The placeholder is the only
// part of a planned call that differs from the run's
// (NormalizeEnvFile), as "<content>" stands for pct push's source file.
const (
	// EnvFilePlaceholder stands for the env file's name in a plan.
	EnvFilePlaceholder = "<env-file>"
	// EnvFilePerms is the env file's mode: root's alone.
	EnvFilePerms = "0600"
	// envFilePrefix + 16 hex digits is an env file's name.
	envFilePrefix = "/tmp/.phoenix-env-"
)

// NewEnvFile is a fresh env file name: /tmp/.phoenix-env-<16 random hex
// digits>, which no two execs share.
func NewEnvFile() (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("environment file name: %w", err)
	}
	return envFilePrefix + hex.EncodeToString(rnd[:]), nil
}

// EnvExec is an exec with an environment as pct is given it: Content
// (secret-bearing: never shown) pushed to File with mode EnvFilePerms,
// then Exec.
type EnvExec struct {
	File    string
	Content []byte
	Exec    []string // pct argv of the exec
}

// EnvExecCalls turns the exec of argv in ctid with env (not empty) into
// its pct calls, the env file named file (NewEnvFile, or
// EnvFilePlaceholder in a plan). The pct backend runs them; the dry-run
// and the in-process fake record them, so that a plan lists what a run
// sends.
func EnvExecCalls(ctid int, file string, argv []string, env map[string]string) (EnvExec, error) {
	content, err := EnvFile(env)
	if err != nil {
		return EnvExec{}, err
	}
	return EnvExec{File: file, Content: content, Exec: EnvExecArgv(ctid, file, argv)}, nil
}

// PushArgv is the pct argv of the env file's push, from src on the host.
func (e EnvExec) PushArgv(ctid int, src string) []string {
	return PushArgv(ctid, src, e.File, PushOptions{Perms: EnvFilePerms})
}

var envFileName = regexp.MustCompile(`^` + regexp.QuoteMeta(envFilePrefix) + `[0-9a-f]{16}$`)

// NormalizeEnvFile is argv with a random env file name (NewEnvFile) as
// EnvFilePlaceholder: a run's call as its plan lists it. Nothing else
// changes.
func NormalizeEnvFile(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = a
		if envFileName.MatchString(a) {
			out[i] = EnvFilePlaceholder
		}
	}
	return out
}
