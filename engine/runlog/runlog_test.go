package runlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

var t0 = time.Date(2025, 9, 1, 10, 0, 0, 0, time.Local)

func TestFileLineFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log", "phoenix_hypervisor.log")
	f, err := NewFile(path)
	require.NoError(t, err)

	f.Emit(engine.Event{Time: t0, Kind: engine.EventLog, Message: "run started"})
	f.Emit(engine.Event{Time: t0, Kind: engine.EventStage, CTID: 901, Stage: "create", State: engine.StageAlready, Message: "exists: skip"})
	f.Emit(engine.Event{Time: t0, Kind: engine.EventStage, CTID: 902, Stage: "start", State: engine.StageFailed, Message: "boom"})
	f.Emit(engine.Event{Time: t0, Kind: engine.EventAction, CTID: 901, Stage: "clone", Argv: []string{"clone", "900", "901", "--snapname", "base-snapshot"}})
	f.Emit(engine.Event{Time: t0, Kind: engine.EventAction, CTID: 950, Stage: "hook", Source: "phoenix_hypervisor_setup_950.lua:12", Argv: []string{"exec", "950", "--", "sh", "-c", "# tag\nline 2\nline 3\n"}})
	f.Emit(engine.Event{Time: t0, Kind: engine.EventOutput, CTID: 940, Level: "WARN", Source: "phoenix_hypervisor_setup_940.sh", Message: "line one\nline two\n"})
	f.Emit(engine.Event{Time: t0, Kind: engine.EventLog, Level: "DEBUG", Message: "bell\a"})
	require.NoError(t, f.Close())

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, strings.Join([]string{
		"2025-09-01 10:00:00 [INFO] phoenix: run started",
		"2025-09-01 10:00:00 [INFO] ct901/create: already done: exists: skip",
		"2025-09-01 10:00:00 [ERROR] ct902/start: failed: boom",
		"2025-09-01 10:00:00 [INFO] ct901/clone: pct clone 900 901 --snapname base-snapshot",
		"2025-09-01 10:00:00 [INFO] phoenix_hypervisor_setup_950.lua:12: pct exec 950 -- sh -c '# tag …(+2 lines)'",
		"2025-09-01 10:00:00 [WARN] phoenix_hypervisor_setup_940.sh: line one",
		"2025-09-01 10:00:00 [WARN] phoenix_hypervisor_setup_940.sh: line two",
		`2025-09-01 10:00:00 [DEBUG] phoenix: bell\x07`,
		"",
	}, "\n"), string(b))

	// The original format, exactly: YYYY-mm-dd HH:MM:SS [LEVEL] source: message
	re := regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[(DEBUG|INFO|WARN|ERROR)] \S+: .+$`)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		assert.Regexp(t, re, sc.Text())
	}
}

func TestFileAppendsAndConcurrentWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.log")
	require.NoError(t, os.WriteFile(path, []byte("2025-01-01 00:00:00 [INFO] old: kept\n"), 0o600))
	f, err := NewFile(path)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				f.Emit(engine.Event{Kind: engine.EventLog, CTID: 900 + i, Message: fmt.Sprintf("message %d", j)})
			}
		}(i)
	}
	wg.Wait()
	require.NoError(t, f.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, got, 1+8*50)
	assert.Equal(t, "2025-01-01 00:00:00 [INFO] old: kept", got[0])
	for _, l := range got[1:] {
		assert.Regexp(t, `^\S+ \S+ \[INFO\] ct90\d: message \d+$`, l)
	}
}

func TestNewFileUnwritableSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	_, err := NewFile(filepath.Join(blocker, "sub", "x.log"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--log-file")
}

func TestRedactorNeverLetsASecretThrough(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.log")
	f, err := NewFile(path)
	require.NoError(t, err)
	var console, js bytes.Buffer
	r := NewRedactor()
	sink := Redact(Multi(f, NewConsole(&console, false), NewJSON(&js)), r)

	r.Add("hf_dummyTOKEN123\n")
	r.Add("ab") // too short to redact safely: ignored
	argv := []string{"exec", "950", "--", "env", "HF_TOKEN=hf_dummyTOKEN123", "serve"}
	sink.Emit(engine.Event{Kind: engine.EventAction, CTID: 950, Stage: "hook", Argv: argv, Source: "x.lua:3"})
	sink.Emit(engine.Event{Kind: engine.EventLog, CTID: 950, Message: "token is hf_dummyTOKEN123, ab stays"})
	require.NoError(t, f.Close())

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for name, out := range map[string]string{"file": string(b), "console": console.String(), "json": js.String()} {
		assert.NotContains(t, out, "hf_dummyTOKEN123", name)
		assert.Contains(t, out, Redacted, name)
	}
	assert.Contains(t, console.String(), "ab stays")
	assert.Equal(t, "HF_TOKEN=hf_dummyTOKEN123", argv[4], "the caller's argv is not modified")
}

// A plan's file diff: the old side of a rotated secret holds a value in no
// token file; it goes with the line the new side redacts, and either way
// round. Lines of other changes and context keep their text.
func TestRedactorFileDiff(t *testing.T) {
	r := NewRedactor()
	r.Add("hf_NEWtoken123\n")
	r.Add("old-pass-4567")
	diff := strings.Join([]string{
		"@@ -1,6 +1,6 @@",
		" # env",
		"-HF_TOKEN=hf_OLDtoken999",
		"-PORT=8000",
		"+HF_TOKEN=hf_NEWtoken123",
		"+PORT=8001",
		" x=1",
		`-"password": "old-pass-4567",`,
		`+"password": "plain-new-value",`,
		"-hf_OLDalone",
		"\\ No newline at end of file",
		"+hf_NEWtoken123",
		"",
	}, "\n")
	e := r.Event(engine.Event{Kind: engine.EventAction, File: &engine.FileChange{Path: "/etc/vllm/hf.env", Diff: diff}})
	want := strings.Join([]string{
		"@@ -1,6 +1,6 @@",
		" # env",
		"-HF_TOKEN=" + Redacted,
		"-PORT=8000",
		"+HF_TOKEN=" + Redacted,
		"+PORT=8001",
		" x=1",
		`-"password": "` + Redacted + `",`,
		`+"password": "` + Redacted + `",`,
		"-" + Redacted,
		"\\ No newline at end of file",
		"+" + Redacted,
		"",
	}, "\n")
	assert.Equal(t, want, e.File.Diff)
	assert.Contains(t, diff, "hf_OLDtoken999", "the caller's FileChange is not modified")

	res := &engine.Result{Containers: []*engine.ContainerResult{{CTID: 950, Actions: []engine.Event{{File: &engine.FileChange{Diff: diff}}}}}}
	assert.Equal(t, want, r.Result(res).Containers[0].Actions[0].File.Diff)
	assert.Equal(t, diff, res.Containers[0].Actions[0].File.Diff, "the result is not modified")
}

// A token file's newline is not part of the secret: the line after the
// redacted token stays a line of its own.
func TestRedactorKeepsTheNewline(t *testing.T) {
	r := NewRedactor()
	r.Add("hf_dummyTOKEN123\n")
	assert.Equal(t, "HF_TOKEN="+Redacted+"\nnext line", r.String("HF_TOKEN=hf_dummyTOKEN123\nnext line"))
}

func TestRedactorConcurrentAdd(t *testing.T) {
	r := NewRedactor()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func(i int) { defer wg.Done(); r.Add(fmt.Sprintf("secret-%02d", i)) }(i)
		go func() { defer wg.Done(); _ = r.String("secret-05 secret-19") }()
	}
	wg.Wait()
	assert.Equal(t, Redacted+" "+Redacted, r.String("secret-05 secret-19"))
}

func TestRedactorLongestFirst(t *testing.T) {
	r := NewRedactor()
	r.Add("abcd")
	r.Add("abcdefgh")
	assert.Equal(t, "x "+Redacted+" y", r.String("x abcdefgh y"))
}

func TestConsole(t *testing.T) {
	var buf bytes.Buffer
	c := NewConsole(&buf, false)
	c.Emit(engine.Event{Kind: engine.EventStage, CTID: 901, Stage: "create", State: engine.StageDone})
	c.Emit(engine.Event{Kind: engine.EventAction, CTID: 950, Stage: "hook", Argv: []string{"exec", "950", "--", "true"}, Source: "phoenix_hypervisor_setup_950.lua:7"})
	c.Emit(engine.Event{Kind: engine.EventOutput, CTID: 940, Message: "hello"})
	c.Emit(engine.Event{Kind: engine.EventOutput, CTID: 960, Stage: "app", Message: "pulling the model"})
	c.Emit(engine.Event{Kind: engine.EventLog, Level: "WARN", Message: "no Proxmox host"})
	c.Emit(engine.Event{Kind: engine.EventLog, Level: "DEBUG", Message: "hidden"})
	c.Emit(engine.Event{Kind: engine.EventStage, CTID: 901, Stage: "start", State: engine.StageRunning})
	assert.Equal(t, strings.Join([]string{
		"[901] create: done",
		"[950] hook: pct exec 950 -- true    # phoenix_hypervisor_setup_950.lua:7",
		"[940] | hello",
		"[960] app | pulling the model",
		"phoenix: WARN no Proxmox host",
		"",
	}, "\n"), buf.String())
	assert.NotContains(t, buf.String(), "\x1b[", "no colour when not a terminal")

	buf.Reset()
	c.Verbose = true
	c.Emit(engine.Event{Kind: engine.EventLog, Level: "DEBUG", Message: "shown"})
	c.Emit(engine.Event{Kind: engine.EventStage, CTID: 901, Stage: "start", State: engine.StageRunning})
	assert.Equal(t, "phoenix: DEBUG shown\n[901] start: running\n", buf.String())
}

func TestConsoleColour(t *testing.T) {
	var buf bytes.Buffer
	c := NewConsole(&buf, true)
	c.Emit(engine.Event{Kind: engine.EventStage, CTID: 902, Stage: "create", State: engine.StageFailed, Message: "boom"})
	c.Emit(engine.Event{Kind: engine.EventStage, CTID: 902, Stage: "create", State: engine.StageDone})
	assert.Equal(t, "[902] create: \x1b[31mfailed: boom\x1b[0m\n[902] create: \x1b[32mdone\x1b[0m\n", buf.String())
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSON(&buf)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			j.Emit(engine.Event{Time: t0, Kind: engine.EventAction, CTID: 900 + i, Argv: []string{"start", fmt.Sprint(900 + i)}})
		}(i)
	}
	wg.Wait()
	require.NoError(t, j.Write(map[string]any{"kind": "summary", "exit": 0}))
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		assert.NotEmpty(t, m["kind"])
		n++
	}
	assert.Equal(t, 11, n)
}

func TestFilterAndMulti(t *testing.T) {
	var a, b []engine.Event
	s := Multi(engine.SinkFunc(func(e engine.Event) { a = append(a, e) }), nil,
		Filter(engine.SinkFunc(func(e engine.Event) { b = append(b, e) }), func(e engine.Event) bool { return Level(e) >= 2 }))
	s.Emit(engine.Event{Kind: engine.EventLog, Message: "info"})
	s.Emit(engine.Event{Kind: engine.EventStage, State: engine.StageSkipped})
	assert.Len(t, a, 2)
	require.Len(t, b, 1)
	assert.Equal(t, engine.StageSkipped, b[0].State)
}
