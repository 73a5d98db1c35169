package pve

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEnvFileRunsInSh: the file and the script, run by the machine's sh,
// give the command exactly the values (quotes, newlines, $ and `
// included) and leave no file behind.
func TestEnvFileRunsInSh(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	env := map[string]string{"A": "it's $HOME `id`\nline 2", "HF_TOKEN": "hf_secret", "EMPTY": ""}
	data, err := EnvFile(env)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "env")
	require.NoError(t, os.WriteFile(file, data, 0o600))

	argv := EnvExecArgv(900, file, []string{"sh", "-c", `printf '%s|%s|%s' "$A" "$HF_TOKEN" "${EMPTY-unset}"`})
	_, cmd, ok := CutEnvFileExec(argv[3:])
	require.True(t, ok)
	assert.Equal(t, []string{"exec", "900", "--", "sh", "-c", EnvFileScript, file}, argv[:7])
	assert.NotContains(t, argv, "hf_secret", "no value on the command line")
	out, err := exec.Command(sh, append([]string{"-c", EnvFileScript, file}, cmd...)...).Output()
	require.NoError(t, err)
	assert.Equal(t, "it's $HOME `id`\nline 2|hf_secret|", string(out))
	assert.NoFileExists(t, file)
}

func TestEnvFileRefusesNamesShCannotExport(t *testing.T) {
	for _, name := range []string{"A=B", "1X", "X;rm", ""} {
		_, err := EnvFile(map[string]string{name: "v"})
		assert.Error(t, err, name)
	}
}

// TestEnvExecCallsAsThePlanShowsThem: two execs get different env files,
// and a run's calls normalised are the plan's (the placeholder in place of
// the random name, nothing else changed); the content is the env file.
func TestEnvExecCallsAsThePlanShowsThem(t *testing.T) {
	a, err := NewEnvFile()
	require.NoError(t, err)
	b, err := NewEnvFile()
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	env := map[string]string{"HF_TOKEN": "hf_secret"}
	run, err := EnvExecCalls(900, a, []string{"printenv", a}, env)
	require.NoError(t, err)
	plan, err := EnvExecCalls(900, EnvFilePlaceholder, []string{"printenv", a}, env)
	require.NoError(t, err)
	assert.Equal(t, "export HF_TOKEN='hf_secret'\n", string(run.Content))
	assert.Equal(t, []string{"push", "900", "<content>", a, "--perms", "0600"}, run.PushArgv(900, "<content>"))
	assert.Equal(t, plan.PushArgv(900, "<content>"), NormalizeEnvFile(run.PushArgv(900, "<content>")))
	norm := NormalizeEnvFile(run.Exec)
	assert.Equal(t, plan.Exec[:len(plan.Exec)-1], norm[:len(norm)-1])
	assert.Equal(t, EnvFilePlaceholder, norm[len(norm)-1], "a random name anywhere is the placeholder")
	assert.NotContains(t, run.Exec, "hf_secret")
	assert.Equal(t, []string{"exec", "900", "--", "ls", "/tmp/.phoenix-env-x"}, NormalizeEnvFile([]string{"exec", "900", "--", "ls", "/tmp/.phoenix-env-x"}))
}
