package lxc

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAttachEnvNotOnCommandLine: an exec's environment (it may hold a
// secret) is named on lxc-attach's command line, never valued; the values
// travel in lxc-attach's own environment.
func TestAttachEnvNotOnCommandLine(t *testing.T) {
	b := &Backend{path: "/var/lib/lxc"}
	env := map[string]string{"HF_TOKEN": "hf_secret", "A": "1"}
	args := b.attachArgs(901, []string{"printenv", "HF_TOKEN"}, env)
	assert.Equal(t, []string{"-n", "901", "-P", "/var/lib/lxc", "--clear-env", "--keep-var", "A", "--keep-var", "HF_TOKEN", "--", "printenv", "HF_TOKEN"}, args)
	assert.Contains(t, attachEnv(env), "HF_TOKEN=hf_secret")
	assert.Nil(t, attachEnv(nil), "no environment: lxc-attach inherits phoenix's")
}
