package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// appConf is a ten-line file whose fifth line says port.
func appConf(port int) []byte {
	var b strings.Builder
	for i := 1; i <= 10; i++ {
		if i == 5 {
			fmt.Fprintf(&b, "port = %d\n", port)
			continue
		}
		fmt.Fprintf(&b, "line%d = %d\n", i, i)
	}
	return []byte(b.String())
}

// pushingHooks gives 960 a hook that pushes *conf to /etc/app.conf.
func pushingHooks(cfg *engine.Config, conf *[]byte) *stubHooks {
	hooks := luaHooks(cfg)
	hooks.act = func(ctx context.Context, req engine.HookRequest) error {
		hctx := engine.WithOrigin(ctx, engine.Origin{CTID: 960, Stage: engine.StageHook, Source: "setup_960.lua:3"})
		return req.Backend.Push(hctx, 960, "/etc/app.conf", *conf, engine.PushOptions{Perms: "0644"})
	}
	return hooks
}

func planText(t *testing.T, cfg *engine.Config, host engine.Backend, hooks engine.HookRunner) (string, *engine.Result) {
	t.Helper()
	res := run(t, engine.RunOptions{Config: cfg, Backend: dryrun.New(host), Hooks: hooks, DryRun: true})
	var buf strings.Builder
	engine.WritePlan(&buf, res, engine.PlanOptions{})
	return buf.String(), res
}

// TestPlanShowsPushedFileAsDiff: on a converged host, a hook whose pushed
// file changed in one line plans that push as a diff of exactly that line
// (with two lines of context), in the text and the JSON; a new file shows
// as new; once applied the plan says NoChanges.
func TestPlanShowsPushedFileAsDiff(t *testing.T) {
	t.Parallel()
	ct := laterContainer()
	ct.Later = engine.Later{}
	cfg := oneConfig(ct)
	host := memhost.NewModel()
	conf := appConf(8000)
	hooks := pushingHooks(cfg, &conf)

	text, _ := planText(t, cfg, host, hooks)
	assert.Contains(t, text, "pct push 960 '<content>' /etc/app.conf --perms 0644    # setup_960.lua:3 (new file, 104 bytes)\n")
	assert.NotContains(t, text, "@@", "a new file has nothing to diff")

	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	host.ResetCalls()

	conf = appConf(9000)
	hooks.infos[960] = engine.HookInfo{Kind: engine.HookLua, Path: "/hooks/phoenix_hypervisor_setup_960.lua", State: engine.HookReady, Digest: "changed"}
	text, res := planText(t, cfg, host, hooks)
	require.Empty(t, host.MutatingCalls(), "reading the old content changed the host")
	assert.Contains(t, text, "    pct push 960 '<content>' /etc/app.conf --perms 0644    # setup_960.lua:3\n"+
		"      @@ -3,5 +3,5 @@\n"+
		"       line3 = 3\n"+
		"       line4 = 4\n"+
		"      -port = 8000\n"+
		"      +port = 9000\n"+
		"       line6 = 6\n"+
		"       line7 = 7\n"+
		"    pct exec 960 -- mkdir -p /etc/phoenix\n")
	assert.NotContains(t, text, "line2 = 2", "only the changed lines and their context")
	assert.Regexp(t, `/etc/phoenix/hook-960.sha256 --perms 0644\n      @@ -1 \+1 @@\n      -[0-9a-f]+\n      \+[0-9a-f]+\n`, text, "the marker's new fingerprint")

	var push *engine.Event
	for _, a := range container(t, res, 960).Actions {
		if len(a.Argv) > 3 && a.Argv[0] == "push" && a.Argv[3] == "/etc/app.conf" {
			push = &a
		}
	}
	require.NotNil(t, push)
	data, err := json.Marshal(push)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"file":{"path":"/etc/app.conf","size":104,"diff":"@@ -3,5 +3,5 @@\n line3 = 3\n line4 = 4\n-port = 8000\n+port = 9000\n`)

	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	text, _ = planText(t, cfg, host, hooks)
	assert.Contains(t, text, engine.NoChanges)
}

// TestPlanShowsFirewallFileAsDiff: a changed rule plans the firewall file
// as the diff of that rule; the same rules are no change at all.
func TestPlanShowsFirewallFileAsDiff(t *testing.T) {
	t.Parallel()
	ct := laterContainer()
	cfg := oneConfig(ct)
	host := memhost.NewModel()
	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})

	text, _ := planText(t, cfg, host, &stubHooks{})
	assert.Contains(t, text, engine.NoChanges, "the same rules are no change")

	ct.Later.Firewall.Rules = append(ct.Later.Firewall.Rules, pve.FirewallRule{Dir: "IN", Action: "ACCEPT", Proto: "tcp", DPort: "22"})
	text, _ = planText(t, cfg, host, &stubHooks{})
	assert.Contains(t, text, "  firewall: would run (/etc/pve/firewall/960.fw: 2 rules)\n"+
		"    write /etc/pve/firewall/960.fw\n"+
		"      @@ -4,2 +4,3 @@\n"+
		"       [RULES]\n"+
		"       IN ACCEPT -source 10.0.0.12 -p tcp -dport 8000 # Allow Traefik\n"+
		"      +IN ACCEPT -p tcp -dport 22\n")
}

// TestLongDiffIsCapped: a rewritten file shows its first lines of diff and
// how many more there are.
func TestLongDiffIsCapped(t *testing.T) {
	t.Parallel()
	ct := laterContainer()
	ct.Later = engine.Later{}
	cfg := oneConfig(ct)
	host := memhost.NewModel()
	var conf []byte
	for i := 0; i < 40; i++ {
		conf = fmt.Appendf(conf, "old %d\n", i)
	}
	hooks := pushingHooks(cfg, &conf)
	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})

	conf = nil
	for i := 0; i < 40; i++ {
		conf = fmt.Appendf(conf, "new %d\n", i)
	}
	hooks.infos[960] = engine.HookInfo{Kind: engine.HookLua, Path: "/hooks/phoenix_hypervisor_setup_960.lua", State: engine.HookReady, Digest: "changed"}
	text, _ := planText(t, cfg, host, hooks)
	// 1 hunk header + 40 removed + 40 added = 81 lines, 24 shown.
	assert.Contains(t, text, "      -old 22\n      … 57 more lines\n")
	assert.NotContains(t, text, "+new 0")
}

// TestPlanOfAChangedScriptShowsOnlyItsChange: on a converged host, an
// application script changed in one line plans its push as that line's
// diff; the config files it runs with, unchanged in the container, are no
// change at all (the run does not push them either).
func TestPlanOfAChangedScriptShowsOnlyItsChange(t *testing.T) {
	t.Parallel()
	ct := laterContainer()
	ct.Later = engine.Later{ApplicationScript: "app_960.sh"}
	cfg := oneConfig(ct)
	cfg.LXCFile = filepath.Join(writeFiles(t, map[string]string{"phoenix_lxc_configs.json": "{\"lxc_configs\": {}}\n"}), "phoenix_lxc_configs.json")
	script := "#!/bin/bash\nset -e\napt-get install -y nginx\nsystemctl enable nginx\necho done\n"
	dir := writeFiles(t, map[string]string{"app_960.sh": script})
	hooks := &fileHooks{stubHooks: stubHooks{}, dir: dir}
	host := newHost()
	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	text, _ := planText(t, cfg, host, hooks)
	require.Contains(t, text, engine.NoChanges)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "app_960.sh"), []byte(strings.Replace(script, "nginx\n", "nginx curl\n", 1)), 0o644))
	host.ResetCalls()
	text, _ = planText(t, cfg, host, hooks)
	assert.Contains(t, text, "    pct push 960 '<content>' /tmp/phoenix_run/app_960.sh --perms 0755\n"+
		"      @@ -1,5 +1,5 @@\n"+
		"       #!/bin/bash\n"+
		"       set -e\n"+
		"      -apt-get install -y nginx\n"+
		"      +apt-get install -y nginx curl\n"+
		"       systemctl enable nginx\n"+
		"       echo done\n")
	assert.NotContains(t, text, "phoenix_lxc_configs.json", "the unchanged config file is no change")

	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	var pushes []string
	for _, c := range host.MutatingCalls() {
		if c.Argv[0] == "push" {
			pushes = append(pushes, pve.NormalizeEnvFile(c.Argv)[3])
		}
	}
	// The script's environment (PHOENIX_CTID) goes in a file pushed before it runs.
	assert.Equal(t, []string{"/tmp/phoenix_run/app_960.sh", pve.EnvFilePlaceholder, engine.FileMarker(filepath.Join(dir, "app_960.sh"))}, pushes, "the run pushes what the plan said")
}
