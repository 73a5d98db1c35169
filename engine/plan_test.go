package engine_test

import (
	"testing"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildPlanOrdersTemplatesBeforeClones(t *testing.T) {
	t.Parallel()
	p, err := engine.BuildPlan(exampleConfig(), nil)
	require.NoError(t, err)
	assert.Equal(t, []int{900, 901, 902, 910, 920, 950}, p.Order)
	assert.Equal(t, []int{900}, p.Deps[901])
	assert.Equal(t, []int{902}, p.Deps[910])
	assert.Empty(t, p.Deps[900])
	for _, id := range p.Order {
		assert.True(t, p.Requested[id], "every container is requested without --ctid")
	}
	assert.Equal(t, map[int][]int{900: {901, 902}, 901: {920}, 902: {910}, 920: {950}}, p.Dependents())
}

func TestBuildPlanTiesGoToLowerCTID(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	// 100 depends on 950 (the end of the longest chain); 105 on nothing.
	cfg.Containers[100] = &engine.Container{CTID: 100, Template: ubuntu, Dependencies: []int{950}}
	cfg.Containers[105] = &engine.Container{CTID: 105, Template: ubuntu}
	p, err := engine.BuildPlan(cfg, nil)
	require.NoError(t, err)
	assert.Equal(t, []int{105, 900, 901, 902, 910, 920, 950, 100}, p.Order)
	assert.Equal(t, []int{950}, p.Deps[100])
}

func TestBuildPlanCTIDSelectsDependencies(t *testing.T) {
	t.Parallel()
	p, err := engine.BuildPlan(exampleConfig(), []int{950})
	require.NoError(t, err)
	assert.Equal(t, []int{900, 901, 920, 950}, p.Order)
	assert.Equal(t, map[int]bool{950: true}, p.Requested)

	p, err = engine.BuildPlan(exampleConfig(), []int{910, 901})
	require.NoError(t, err)
	assert.Equal(t, []int{900, 901, 902, 910}, p.Order)
	assert.Equal(t, map[int]bool{901: true, 910: true}, p.Requested)
}

func TestBuildPlanErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(cfg *engine.Config)
		ctids []int
		want  []string
	}{
		{
			name:  "unknown ctid",
			ctids: []int{999},
			want:  []string{"container 999 is not in lxc_configs"},
		},
		{
			name: "missing dependency",
			edit: func(cfg *engine.Config) { cfg.Containers[910].Dependencies = []int{953} },
			want: []string{"container 910 depends on 953, which is not in lxc_configs"},
		},
		{
			name: "cycle",
			edit: func(cfg *engine.Config) { cfg.Containers[900].Dependencies = []int{920} },
			want: []string{"dependency cycle: 900 -> 920 -> 901 -> 900", "break it in"},
		},
		{
			name: "two-node cycle",
			edit: func(cfg *engine.Config) {
				cfg.Containers[901].CloneFrom = 902
				cfg.Containers[902].CloneFrom = 901
			},
			want: []string{"dependency cycle: 901 -> 902 -> 901"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := exampleConfig()
			if tt.edit != nil {
				tt.edit(cfg)
			}
			_, err := engine.BuildPlan(cfg, tt.ctids)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestBuildPlanIgnoresSelfAndDuplicateDeps(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	cfg.Containers[910].Dependencies = []int{910, 902, 900, 900}
	p, err := engine.BuildPlan(cfg, nil)
	require.NoError(t, err)
	assert.Equal(t, []int{900, 902}, p.Deps[910])
}
