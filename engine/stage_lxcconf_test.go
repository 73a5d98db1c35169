package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// A line whose value is replaced is one change, not an addition and a
// removal; a line added beside it is an addition.
func TestDescribeRawEditCountsAReplacedValueAsChanged(t *testing.T) {
	e := pve.MergeRaw(map[string]string{
		"lxc.apparmor.profile": "generated",
		"description":          `phoenix: raw lines ["lxc.apparmor.profile"]`,
	}, []pve.RawLine{
		{Key: "lxc.apparmor.profile", Value: "unconfined"},
		{Key: "lxc.cap.drop", Value: ""},
	})
	assert.Equal(t, "1 lxc lines added, 1 changed", describeRawEdit(e))

	e = pve.MergeRaw(map[string]string{
		"lxc.apparmor.profile": "generated",
		"lxc.cap.drop":         "",
		"description":          `phoenix: raw lines ["lxc.apparmor.profile","lxc.cap.drop: "]`,
	}, []pve.RawLine{{Key: "lxc.apparmor.profile", Value: "generated"}})
	assert.Equal(t, "1 lxc lines removed", describeRawEdit(e))
}
