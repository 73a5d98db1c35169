package reftest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClonesInheritDropsOnlyTheClonesUnprivileged(t *testing.T) {
	in := `{"lxc_configs":{
		"900":{"unprivileged":true,"template":"t"},
		"901":{"unprivileged":false,"clone_from_template_ctid":"900"},
		"902":{"unprivileged":true,"clone_from_ctid":900}}}`
	out, err := ClonesInherit([]byte(in))
	require.NoError(t, err)
	var doc struct {
		LXC map[string]map[string]any `json:"lxc_configs"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	assert.Equal(t, true, doc.LXC["900"]["unprivileged"], "a created container keeps it")
	assert.NotContains(t, doc.LXC["901"], "unprivileged")
	assert.NotContains(t, doc.LXC["902"], "unprivileged")
	assert.Equal(t, "900", doc.LXC["901"]["clone_from_template_ctid"])
}

func TestClonesInheritRefusesWhatIsNotAConfig(t *testing.T) {
	for _, in := range []string{`[`, `{}`, `{"lxc_configs":{"900":1}}`} {
		_, err := ClonesInherit([]byte(in))
		assert.Error(t, err, in)
	}
}
