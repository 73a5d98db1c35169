package luaapi

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Globals is the set of global names the sandbox defines, with the fields
// of its library tables: the contract the LuaLS file luaapi/phoenix.d.lua
// describes (a test keeps the two in step).
func (s *sandbox) setAPI(g *lua.LTable) {
	L := s.L
	fn := func(f lua.LGFunction) *lua.LFunction { return L.NewFunction(f) }
	version := s.o.Version
	if version == "" {
		version = "dev"
	}
	g.RawSetString("phoenix", s.newTable(map[string]lua.LValue{
		"ctid":    lua.LNumber(s.o.CTID),
		"dry_run": lua.LBool(s.o.DryRun),
		"version": lua.LString(version),
	}))
	g.RawSetString("pct_exec", fn(s.pctExec))
	g.RawSetString("pct_push", fn(s.pctPush))
	g.RawSetString("pct_snapshot", fn(s.pctSnapshot))
	g.RawSetString("pct_status", fn(s.pctStatus))
	g.RawSetString("sleep", fn(s.sleep))
	g.RawSetString("config", s.newTable(map[string]lua.LValue{
		"get":       fn(s.configGet),
		"lxc":       fn(s.configLXC),
		"container": fn(s.configContainer),
		"secret":    fn(s.configSecret),
	}))
	logt := map[string]lua.LValue{}
	for _, lv := range []string{"debug", "info", "warn", "error"} {
		level := strings.ToUpper(lv)
		logt[lv] = fn(func(L *lua.LState) int { return s.log(L, level) })
	}
	g.RawSetString("log", s.newTable(logt))
}

// ---- pct_exec ------------------------------------------------------------

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type execRequest struct {
	argv  []string
	opts  engine.ExecOptions
	check bool
}

func (s *sandbox) pctExec(L *lua.LState) int {
	req := s.execArgs(L)
	n := 0
	for _, a := range req.argv {
		n += len(a) + 1
	}
	for k, v := range req.opts.Env {
		n += len(k) + len(v) + 2
	}
	s.spend(L, n)
	ctx := s.origin()
	var flush func()
	if s.o.Events != nil {
		req.opts.Stdout, req.opts.Stderr, flush = execOutput(s.o.Events, s.o.CTID, s.o.stage(), engine.OriginFrom(ctx).Source, s.lim.MaxLogLineBytes, s.scrub)
	}
	res, err := s.o.Backend.Exec(ctx, s.o.CTID, req.argv, req.opts)
	if flush != nil {
		flush()
	}
	if err != nil {
		s.raise(L, "pct_exec %s: %v", showArgv(req.argv), err)
	}
	if s.o.DryRun {
		// The plan records the call; a dry-run never has output.
		res = engine.ExecResult{}
	}
	res.Stdout = truncate(res.Stdout, s.lim.MaxStringBytes)
	res.Stderr = truncate(res.Stderr, s.lim.MaxStringBytes)
	if res.Code != 0 && req.check {
		msg := fmt.Sprintf("pct_exec %s: exit %d", showArgv(req.argv), res.Code)
		if e := strings.TrimSpace(res.Stderr); e != "" {
			msg += ": " + lastLines(e, 5, 512)
		}
		s.raise(L, "%s", msg)
	}
	L.Push(s.plain(execRecord{Code: res.Code, Stdout: res.Stdout, Stderr: res.Stderr, OK: res.Code == 0}))
	return 1
}

func (s *sandbox) execArgs(L *lua.LState) execRequest {
	req := execRequest{check: true}
	total := 0
	switch a := L.Get(1).(type) {
	case lua.LString:
		if a == "" {
			L.ArgError(1, "argv: the command string is empty")
		}
		req.argv = []string{"sh", "-c", string(a)}
	case *lua.LTable:
		req.argv = s.stringList(L, 1, "argv", a, s.lim.MaxExecArgs)
		if len(req.argv) == 0 {
			L.ArgError(1, "argv: the list is empty")
		}
	default:
		L.ArgError(1, "argv: a list of strings or a command string expected, got "+L.Get(1).Type().String())
	}
	for _, a := range req.argv {
		if strings.IndexByte(a, 0) >= 0 {
			L.ArgError(1, "argv: an element contains a NUL byte")
		}
		total += len(a)
	}
	if opts, ok := L.Get(2).(*lua.LTable); ok {
		opts = s.data(opts)
		opts.ForEach(func(k, v lua.LValue) {
			key, _ := k.(lua.LString)
			switch key {
			case "check":
				b, ok := v.(lua.LBool)
				if !ok {
					L.ArgError(2, "opts.check: a boolean expected, got "+v.Type().String())
				}
				req.check = bool(b)
			case "timeout":
				n, ok := v.(lua.LNumber)
				if !ok || n <= 0 || math.IsInf(float64(n), 0) || math.IsNaN(float64(n)) || n > 86400*7 {
					L.ArgError(2, "opts.timeout: a number of seconds > 0 and at most a week expected")
				}
				// Rounded up: a timeout of 1e-12 s is a timeout of 1 ns,
				// not a zero Duration (which means none).
				req.opts.Timeout = time.Duration(math.Ceil(float64(n) * float64(time.Second)))
			case "stdin":
				str, ok := v.(lua.LString)
				if !ok {
					L.ArgError(2, "opts.stdin: a string expected, got "+v.Type().String())
				}
				req.opts.Stdin = []byte(str)
				total += len(str)
			case "env":
				t, ok := v.(*lua.LTable)
				if !ok {
					L.ArgError(2, "opts.env: a table of NAME = value strings expected, got "+v.Type().String())
				}
				req.opts.Env = map[string]string{}
				s.data(t).ForEach(func(ek, ev lua.LValue) {
					name, ok1 := ek.(lua.LString)
					val, ok2 := ev.(lua.LString)
					if !ok1 || !ok2 || !envName.MatchString(string(name)) || strings.IndexByte(string(val), 0) >= 0 {
						L.ArgError(2, fmt.Sprintf("opts.env: %s: names must match [A-Za-z_][A-Za-z0-9_]* and values be strings without NUL", describe(ek)))
					}
					req.opts.Env[string(name)] = string(val)
					total += len(name) + len(val) + 1
				})
			default:
				L.ArgError(2, fmt.Sprintf("opts: unknown option %q (known: check, timeout, stdin, env)", describe(k)))
			}
		})
	} else if L.Get(2) != lua.LNil {
		L.ArgError(2, "opts: a table expected, got "+L.Get(2).Type().String())
	}
	if len(req.opts.Env) > 0 && strings.IndexByte(req.argv[0], '=') >= 0 {
		// The env is passed as `env NAME=value ... argv`: env would read
		// this argv[1] as one more assignment and run the next element.
		L.ArgError(1, fmt.Sprintf("argv[1] %q contains '=' and opts.env is set: env would take it for a variable; name the program without '=' (or run it through {\"sh\", \"-c\", ...})", truncate(req.argv[0], 80)))
	}
	if total > s.lim.MaxExecBytes {
		L.ArgError(1, fmt.Sprintf("argv: %d bytes with stdin and env, more than the limit of %d", total, s.lim.MaxExecBytes))
	}
	return req
}

// execOutput returns writers that stream a command's stdout and stderr
// into events line by line as they come, as a shell hook's output is
// (stderr at WARN), and the flush of their last partial lines. clean
// scrubs what the sandbox knows to be secret.
func execOutput(events engine.Sink, ctid int, stage, src string, maxLine int, clean func(string) string) (stdout, stderr io.Writer, flush func()) {
	line := func(level string) *engine.LineWriter {
		return &engine.LineWriter{Emit: func(l string) {
			events.Emit(engine.Event{Time: time.Now(), Kind: engine.EventOutput, CTID: ctid, Stage: stage, Level: level, Source: src,
				Message: truncate(escapeControl(clean(l), false), maxLine)})
		}}
	}
	out, errw := line("INFO"), line("WARN")
	return out, errw, func() { out.Flush(); errw.Flush() }
}

// lastLines is the last n lines of s joined by " | ", cut to max bytes:
// one line for an error message, however many the command printed.
func lastLines(s string, n, max int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return tail(strings.Join(lines, " | "), max)
}

// stringList reads t as a list of strings (keys 1..n only).
func (s *sandbox) stringList(L *lua.LState, arg int, name string, t *lua.LTable, max int) []string {
	t = s.data(t)
	n := t.Len()
	if n > max {
		L.ArgError(arg, fmt.Sprintf("%s: %d elements, more than the limit of %d", name, n, max))
	}
	count := 0
	t.ForEach(func(lua.LValue, lua.LValue) { count++ })
	if count != n {
		L.ArgError(arg, name+": a list expected (keys 1..n only)")
	}
	out := make([]string, n)
	for i := 1; i <= n; i++ {
		v, ok := t.RawGetInt(i).(lua.LString)
		if !ok {
			L.ArgError(arg, fmt.Sprintf("%s[%d]: a string expected, got %s", name, i, t.RawGetInt(i).Type().String()))
		}
		out[i-1] = string(v)
	}
	return out
}

// showArgv renders argv as a Lua list for messages, cut to a sane length.
func showArgv(argv []string) string {
	var b strings.Builder
	b.WriteString("{")
	for i, a := range argv {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(a))
		if b.Len() > 300 {
			b.WriteString(", …")
			break
		}
	}
	b.WriteString("}")
	return b.String()
}

// raise raises a Lua error whose text is scrubbed of secrets.
func (s *sandbox) raise(L *lua.LState, format string, args ...any) {
	L.RaiseError("%s", s.scrub(fmt.Sprintf(format, args...)))
}

// ---- pct_push, pct_snapshot, pct_status -----------------------------------

var (
	permsRE    = regexp.MustCompile(`^0?[0-7]{3,4}$`)
	ownerRE    = regexp.MustCompile(`^([a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})$`)
	snapshotRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]+$`)
)

func (s *sandbox) pctPush(L *lua.LState) int {
	content := L.CheckString(1)
	dest := L.CheckString(2)
	if !strings.HasPrefix(dest, "/") || strings.IndexByte(dest, 0) >= 0 || len(dest) > 4096 {
		L.ArgError(2, "dest: an absolute path inside the container expected")
	}
	if len(content) > s.lim.MaxStringBytes {
		L.ArgError(1, "content: too large")
	}
	var po engine.PushOptions
	if opts, ok := L.Get(3).(*lua.LTable); ok {
		s.data(opts).ForEach(func(k, v lua.LValue) {
			str, isStr := v.(lua.LString)
			key := describe(k)
			switch {
			case key == "perms" && isStr && permsRE.MatchString(string(str)):
				po.Perms = string(str)
			case key == "user" && isStr && ownerRE.MatchString(string(str)):
				po.User = string(str)
			case key == "group" && isStr && ownerRE.MatchString(string(str)):
				po.Group = string(str)
			case key == "perms" || key == "user" || key == "group":
				L.ArgError(3, fmt.Sprintf("opts.%s: invalid value (perms: octal like \"0644\"; user/group: a name or a number)", key))
			default:
				L.ArgError(3, fmt.Sprintf("opts: unknown option %q (known: perms, user, group)", key))
			}
		})
	} else if L.Get(3) != lua.LNil {
		L.ArgError(3, "opts: a table expected, got "+L.Get(3).Type().String())
	}
	s.spend(L, len(dest))
	if err := s.o.Backend.Push(s.origin(), s.o.CTID, dest, []byte(content), po); err != nil {
		s.raise(L, "pct_push %s: %v", dest, err)
	}
	return 0
}

func (s *sandbox) pctSnapshot(L *lua.LState) int {
	name := L.CheckString(1)
	if len(name) > 40 || !snapshotRE.MatchString(name) {
		L.ArgError(1, "name: a letter, then letters, digits, '_' or '-', at most 40 characters")
	}
	if err := s.o.Backend.Snapshot(s.origin(), s.o.CTID, name); err != nil {
		s.raise(L, "pct_snapshot %s: %v", name, err)
	}
	return 0
}

func (s *sandbox) pctStatus(L *lua.LState) int {
	st, err := s.o.Backend.Status(s.origin(), s.o.CTID)
	if err != nil && !errors.Is(err, engine.ErrNotExist) {
		s.raise(L, "pct_status: %v", err)
	}
	switch {
	case err != nil || !st.Exists:
		L.Push(lua.LString("missing"))
	case st.Running:
		L.Push(lua.LString("running"))
	default:
		L.Push(lua.LString("stopped"))
	}
	return 1
}

// ---- sleep ------------------------------------------------------------------

func (s *sandbox) sleep(L *lua.LState) int {
	n := L.CheckNumber(1)
	if n < 0 || math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		L.ArgError(1, "seconds: a number >= 0 expected")
	}
	if s.o.DryRun || n == 0 {
		return 0
	}
	d := time.Duration(math.MaxInt64) // math.huge (the largest float) and anything past 292 years: until the hook's timeout
	if secs := float64(n) * float64(time.Second); secs < float64(math.MaxInt64) {
		d = time.Duration(math.Ceil(secs))
	}
	wait := s.sleepCtx
	if s.o.Sleep != nil {
		wait = func(d time.Duration) error { return s.o.Sleep(s.ctx, d) }
	}
	if err := wait(d); err != nil {
		L.RaiseError("%s", err.Error())
	}
	return 0
}

// ---- config -------------------------------------------------------------------

func (s *sandbox) configGet(L *lua.LState) int {
	var doc map[string]any
	if s.o.Config != nil {
		doc = s.o.Config.Hypervisor
	}
	L.Push(s.readOnly(s.lookup(L, doc), 0))
	return 1
}

func (s *sandbox) configLXC(L *lua.LState) int {
	var doc map[string]any
	if s.o.Config != nil {
		doc = s.o.Config.LXC
	}
	L.Push(s.readOnly(s.lookup(L, doc), 0))
	return 1
}

func (s *sandbox) configContainer(L *lua.LState) int {
	ctid := L.OptInt(1, s.o.CTID)
	if s.o.Config == nil || s.o.Config.Containers[ctid] == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(s.readOnly(s.o.Config.Containers[ctid].Raw, 0))
	return 1
}

// lookup walks a dotted path ("core_paths.hf_token_file", "lxc_configs.950",
// "list.1") through decoded JSON. nil or "" is the whole document.
func (s *sandbox) lookup(L *lua.LState, doc map[string]any) any {
	path := L.OptString(1, "")
	var cur any = doc
	if doc == nil {
		return nil
	}
	if path == "" {
		return cur
	}
	for _, part := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 1 || i > len(c) {
				return nil
			}
			cur = c[i-1]
		default:
			return nil
		}
	}
	return cur
}

const maxSecretBytes = 64 << 10

func (s *sandbox) configSecret(L *lua.LState) int {
	path := L.CheckString(1)
	var doc map[string]any
	if s.o.Config != nil {
		doc = s.o.Config.Hypervisor
	}
	file, ok := s.lookup(L, doc).(string)
	if !ok || file == "" {
		L.ArgError(1, fmt.Sprintf("%q is not a file path in the hypervisor config: set it to the file holding the secret", path))
	}
	v, err := s.readSecret(path, file)
	if err != nil {
		s.raise(L, "config.secret %s: %v", path, err)
	}
	s.addSecret(v)
	L.Push(lua.LString(v))
	return 1
}

func (s *sandbox) readSecret(path, file string) (string, error) {
	if s.o.ReadSecret != nil {
		return s.o.ReadSecret(path, file)
	}
	if !filepath.IsAbs(file) && s.o.BaseDir != "" {
		file = filepath.Join(s.o.BaseDir, file)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%s): point the config at the file holding the secret", file, fileKind(fi.Mode()))
	}
	buf := make([]byte, maxSecretBytes+1)
	n, _ := io.ReadFull(f, buf)
	if n > maxSecretBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", file, maxSecretBytes)
	}
	return strings.TrimRight(string(buf[:n]), "\r\n"), nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}

// ---- log, print ----------------------------------------------------------------

func (s *sandbox) log(L *lua.LState, level string) int {
	var msg string
	switch v := L.Get(1).(type) {
	case lua.LString:
		msg = string(v)
		if L.GetTop() > 1 {
			s.strFormat(L)
			msg = lua.LVAsString(L.Get(-1))
		}
	case *lua.LTable, *lua.LFunction, *lua.LUserData:
		msg = "(" + v.Type().String() + ")" // no __tostring: logging must not run hook code
	default:
		msg = describe(v)
	}
	s.emit(level, msg)
	return 0
}

func (s *sandbox) basePrint(L *lua.LState) int {
	parts := make([]string, 0, L.GetTop())
	for i := 1; i <= L.GetTop(); i++ {
		parts = append(parts, L.ToStringMeta(L.Get(i)).String())
	}
	s.emit("INFO", strings.Join(parts, "\t"))
	return 0
}

func (s *sandbox) emit(level, msg string) {
	s.mu.Lock()
	s.logLines++
	over := s.logLines > s.lim.MaxLogLines
	if over {
		s.dropped++
	}
	s.mu.Unlock()
	if over || s.o.Events == nil {
		return
	}
	src := s.chunk
	if line := s.hookLine(1); line > 0 {
		src += ":" + strconv.Itoa(line)
	}
	msg = truncate(escapeControl(s.scrub(msg), false), s.lim.MaxLogLineBytes)
	s.o.Events.Emit(engine.Event{Time: time.Now(), Kind: engine.EventLog, CTID: s.o.CTID, Stage: s.o.stage(), Level: level, Message: msg, Source: src})
}

func (s *sandbox) flushDropped() {
	if s.dropped > 0 && s.o.Events != nil {
		s.o.Events.Emit(engine.Event{Time: time.Now(), Kind: engine.EventLog, CTID: s.o.CTID, Stage: s.o.stage(), Level: "WARN",
			Message: fmt.Sprintf("%d log lines dropped: the hook logged more than %d lines", s.dropped, s.lim.MaxLogLines), Source: s.chunk})
	}
}
