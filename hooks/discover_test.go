package hooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const script = "#!/bin/bash\nexit 0\n"
	sum := sha256.Sum256([]byte(script))
	writeHook(t, dir, 901, "lua", "log.info('x')\n", 0o644)
	sh := writeHook(t, dir, 902, "sh", script, 0o755)
	noexec := writeHook(t, dir, 903, "sh", script, 0o644)
	bothLua := writeHook(t, dir, 904, "lua", "", 0o644)
	bothSh := writeHook(t, dir, 904, "sh", script, 0o755)
	r := NewRunner(Options{Dir: dir})

	none := r.Describe(&engine.Container{CTID: 900})
	assert.Equal(t, engine.HookInfo{}, none, "no file: no hook")

	lua := r.Describe(&engine.Container{CTID: 901})
	assert.Equal(t, engine.HookLua, lua.Kind)
	assert.Equal(t, engine.HookReady, lua.State)

	ready := r.Describe(&engine.Container{CTID: 902})
	assert.Equal(t, engine.HookInfo{Kind: engine.HookShell, Path: sh, State: engine.HookReady, Digest: hex.EncodeToString(sum[:])}, ready)

	ne := r.Describe(&engine.Container{CTID: 903})
	assert.Equal(t, engine.HookNotExecutable, ne.State)
	assert.Contains(t, ne.Problem, "is not executable: run chmod +x "+noexec)
	assert.NotEmpty(t, ne.Digest)

	amb := r.Describe(&engine.Container{CTID: 904})
	assert.Equal(t, engine.HookAmbiguous, amb.State)
	assert.Contains(t, amb.Problem, bothLua)
	assert.Contains(t, amb.Problem, bothSh)
	assert.Contains(t, amb.Problem, "remove one")
}

func TestDescribeDigestChangesWithContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := NewRunner(Options{Dir: dir})
	writeHook(t, dir, 940, "sh", "#!/bin/sh\necho a\n", 0o755)
	a := r.Describe(&engine.Container{CTID: 940}).Digest
	writeHook(t, dir, 940, "sh", "#!/bin/sh\necho b\n", 0o755)
	b := r.Describe(&engine.Container{CTID: 940}).Digest
	assert.NotEqual(t, a, b)
}

func TestList(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeHook(t, dir, 901, "lua", "", 0o644)
	writeHook(t, dir, 940, "sh", "#!/bin/sh\n", 0o644)
	writeHook(t, dir, 777, "sh", "#!/bin/sh\n", 0o755) // orphan
	writeHook(t, dir, 901, "lua", "", 0o644)
	writeHook(t, dir, 950, "lua", "", 0o644)
	writeHook(t, dir, 950, "sh", "#!/bin/sh\n", 0o755)                                             // ambiguous
	require.NoError(t, writeFile(filepath.Join(dir, "phoenix_hypervisor_setup_901_test.lua"), "")) // a test, not a hook
	require.NoError(t, writeFile(filepath.Join(dir, "README.md"), ""))
	cfg := &engine.Config{Containers: map[int]*engine.Container{
		900: {CTID: 900, Hostname: "BaseTemplate"},
		901: {CTID: 901, Hostname: "GPU"},
		940: {CTID: 940, Hostname: "LegacyScripted"},
		950: {CTID: 950, Hostname: "vllm"},
	}}
	entries, err := List(dir, cfg)
	require.NoError(t, err)
	require.Len(t, entries, 5)
	assert.Equal(t, Entry{CTID: 900, Name: "BaseTemplate", State: StateNone}, entries[0])
	assert.Equal(t, engine.HookLua, entries[1].Kind)
	assert.Equal(t, engine.HookReady, entries[1].State)
	assert.Equal(t, engine.HookNotExecutable, entries[2].State)
	assert.Equal(t, KindBoth, entries[3].Kind)
	assert.Equal(t, engine.HookAmbiguous, entries[3].State)
	assert.True(t, entries[4].Orphan)
	assert.Equal(t, 777, entries[4].CTID)
	assert.Equal(t, StateOrphan, entries[4].State)

	var buf bytes.Buffer
	WriteList(&buf, entries)
	out := buf.String()
	assert.Contains(t, out, "CTID")
	assert.Regexp(t, `940\s+LegacyScripted\s+sh\s+not executable\s+\S+940\.sh`, out)
	assert.Regexp(t, `900\s+BaseTemplate\s+-\s+no hook\s+-`, out)
	assert.Regexp(t, `950\s+vllm\s+lua\+sh\s+ambiguous\s+\S+950\.lua and \S+950\.sh`, out)
	assert.Regexp(t, `777\s+-\s+sh\s+orphan\s+\S+777\.sh`, out)
	assert.Contains(t, out, "950: container 950 has two hooks")
	assert.Contains(t, out, "777: no container 777 in the configuration")
	assert.Contains(t, out, "chmod +x")
}

func TestListMissingDir(t *testing.T) {
	t.Parallel()
	cfg := &engine.Config{Containers: map[int]*engine.Container{900: {CTID: 900}}}
	entries, err := List(filepath.Join(t.TempDir(), "nope"), cfg)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, StateNone, entries[0].State)
}
