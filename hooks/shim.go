package hooks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// The shim: a shell hook that must reach containers through the Backend
// (dry-run, or a backend other than pct) runs with a directory first on
// PATH where pct, qm, pvesm, pveam, pvesh, zfs and zpool are symlinks to
// the phoenix binary. Invoked under one of those names, the binary (see
// IsShim/ShimMain) forwards its argv, and for `pct exec` its stdin, to the
// hook's Runner over the unix socket named by PHOENIX_SHIM_SOCKET, prints
// the answer and exits with its code. The Runner maps the call onto the
// Backend with the hook as the Origin, so dry-run records it in the plan.

const (
	envShimSocket = "PHOENIX_SHIM_SOCKET"
	// isolateName is argv[0] of the dry-run isolation helper.
	isolateName = "phoenix-isolate"
)

// maxExecStdin bounds what the shim reads from the stdin of `pct exec`.
const maxExecStdin = 64 << 20

// ShimCommands are the commands a shell hook finds shimmed on its PATH.
var ShimCommands = []string{"pct", "qm", "pvesm", "pveam", "pvesh", "zfs", "zpool"}

// IsShim reports whether the binary was invoked as one of the shimmed
// Proxmox commands (pct, qm, pvesm, pveam, pvesh, zfs, zpool) or as the
// dry-run isolation helper, by the base name of argv[0].
func IsShim(argv0 string) bool {
	name := filepath.Base(argv0)
	if name == isolateName || name == isolateExecName {
		return true
	}
	for _, c := range ShimCommands {
		if name == c {
			return true
		}
	}
	return false
}

// ShimMain runs the shim for os.Args and returns the exit code.
func ShimMain(args []string) int {
	if len(args) == 0 {
		return 127
	}
	switch filepath.Base(args[0]) {
	case isolateName:
		return isolateMain(args)
	case isolateExecName:
		return isolateExecMain(args)
	}
	return shimClient(args, os.Stdin, os.Stdout, os.Stderr)
}

// shimRequest is what the shim sends: one JSON object.
type shimRequest struct {
	Cmd   string   `json:"cmd"`
	Args  []string `json:"args"`
	Stdin []byte   `json:"stdin,omitempty"`
	// File is the content of the host file of `pct push`.
	File []byte `json:"file,omitempty"`
}

// shimFrame is one JSON object of the answer: output as it comes, then a
// frame with the exit code.
type shimFrame struct {
	Stream string `json:"stream,omitempty"` // "stdout" or "stderr"
	Data   []byte `json:"data,omitempty"`
	Code   *int   `json:"code,omitempty"`
}

func shimClient(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sock := os.Getenv(envShimSocket)
	if sock == "" {
		fmt.Fprintf(stderr, "%s: this is phoenix's shim for hooks: it works only inside a hook run (%s is not set)\n", filepath.Base(args[0]), envShimSocket)
		return 127
	}
	return shimClientWith(sock, args, stdin, stdout, stderr)
}

// shimClientWith sends one call to the run serving sock and prints the
// answer; it returns the exit code.
func shimClientWith(sock string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := filepath.Base(args[0])
	req := shimRequest{Cmd: name, Args: args[1:]}
	if name == "pct" && len(req.Args) > 0 {
		switch req.Args[0] {
		case "exec":
			// The Backend takes stdin whole: read it all, bounded (an endless
			// producer such as `yes |` must not hang the hook).
			data, err := io.ReadAll(io.LimitReader(stdin, maxExecStdin+1))
			if err != nil {
				fmt.Fprintf(stderr, "pct: read stdin: %v\n", err)
				return 255
			}
			if len(data) > maxExecStdin {
				fmt.Fprintf(stderr, "pct: phoenix shim: stdin of pct exec is larger than %d MiB: copy the data with pct push instead\n", maxExecStdin>>20)
				return 255
			}
			req.Stdin = data
		case "push":
			if len(req.Args) >= 3 {
				data, err := os.ReadFile(req.Args[2])
				if err != nil {
					fmt.Fprintf(stderr, "pct: %v\n", err)
					return 255
				}
				req.File = data
			}
		}
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Fprintf(stderr, "%s: phoenix shim: %v\n", name, err)
		return 255
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		fmt.Fprintf(stderr, "%s: phoenix shim: send: %v\n", name, err)
		return 255
	}
	dec := json.NewDecoder(bufio.NewReader(conn))
	for {
		var f shimFrame
		if err := dec.Decode(&f); err != nil {
			fmt.Fprintf(stderr, "%s: phoenix shim: no answer from the run: %v\n", name, err)
			return 255
		}
		switch f.Stream {
		case "stdout":
			stdout.Write(f.Data)
		case "stderr":
			stderr.Write(f.Data)
		}
		if f.Code != nil {
			return *f.Code
		}
	}
}

// DefaultMaxShimCalls bounds the shim calls of one shell hook run, as
// luaapi's MaxBackendCalls bounds a Lua hook's pct_* calls: a hook calling
// pct in an endless loop during plan must not fill phoenix's memory with
// recorded actions.
const DefaultMaxShimCalls = 10000

// shimServer answers the shim calls of one hook run.
type shimServer struct {
	limit     int64        // calls answered; later ones are refused
	calls     atomic.Int64 // calls received
	overLimit sync.Once    // the warning, once
	dir       string       // holds bin/ (the symlinks) and the socket
	ln        net.Listener
	req       engine.HookRequest
	ctx       context.Context // carries the hook's Origin
	wg        sync.WaitGroup
	stop      context.CancelFunc
}

// startShim creates the shim dir and starts serving calls for req.
func (r *Runner) startShim(ctx context.Context, req engine.HookRequest, source string) (*shimServer, error) {
	exe, err := r.shimExe()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("phoenix-hook-%d-", req.Container.CTID))
	if err != nil {
		return nil, fmt.Errorf("pct shim: %w", err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pct shim: %w", err)
	}
	for _, c := range ShimCommands {
		if err := os.Symlink(exe, filepath.Join(bin, c)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pct shim: %w", err)
		}
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "shim.sock"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pct shim: %w", err)
	}
	sctx, stop := context.WithCancel(engine.WithOrigin(ctx, engine.Origin{CTID: req.Container.CTID, Stage: orHook(req.Stage), Source: source}))
	limit := r.o.MaxShimCalls
	if limit <= 0 {
		limit = DefaultMaxShimCalls
	}
	s := &shimServer{dir: dir, ln: ln, req: req, ctx: sctx, stop: stop, limit: int64(limit)}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// env is what the hook's environment needs to find the shim.
func (s *shimServer) env() []string {
	return []string{
		"PATH=" + filepath.Join(s.dir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		envShimSocket + "=" + filepath.Join(s.dir, "shim.sock"),
	}
}

// Close stops serving, waits for calls in progress and removes the dir.
func (s *shimServer) Close() error {
	s.stop()
	err := s.ln.Close()
	s.wg.Wait()
	os.RemoveAll(s.dir)
	return err
}

func (s *shimServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.handle(conn)
		}()
	}
}

// frameWriter sends output frames as the backend produces them.
type frameWriter struct {
	mu     *sync.Mutex
	enc    *json.Encoder
	stream string
	n      int
}

func (w *frameWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(p)
	if err := w.enc.Encode(shimFrame{Stream: w.stream, Data: p}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *shimServer) handle(conn net.Conn) {
	var req shimRequest
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		return
	}
	var mu sync.Mutex
	enc := json.NewEncoder(conn)
	out := &frameWriter{mu: &mu, enc: enc, stream: "stdout"}
	errw := &frameWriter{mu: &mu, enc: enc, stream: "stderr"}
	var code int
	if s.calls.Add(1) > s.limit {
		s.refuse(req, errw)
		code = 255
	} else if req.Cmd == "pct" && len(req.Args) > 0 && req.Args[0] == "exec" {
		code = s.call(req, out, errw)
	} else {
		// One write each, as pct does when it exits: `pct listsnapshot |
		// grep -q name` under pipefail must not die of SIGPIPE after grep
		// found its line.
		var obuf, ebuf bytes.Buffer
		code = s.call(req, &obuf, &ebuf)
		if obuf.Len() > 0 {
			out.Write(obuf.Bytes())
		}
		if ebuf.Len() > 0 {
			errw.Write(ebuf.Bytes())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	_ = enc.Encode(shimFrame{Code: &code})
}

// refuse answers a call past the limit: an error for the hook, and once a
// warning for the run.
func (s *shimServer) refuse(req shimRequest, stderr io.Writer) {
	msg := fmt.Sprintf("phoenix shim: this hook made more than %d pct/qm/pvesm/... calls (a loop running away?): later calls are refused", s.limit)
	fmt.Fprintf(stderr, "%s: %s\n", req.Cmd, msg)
	s.overLimit.Do(func() {
		if s.req.Events != nil {
			or := engine.OriginFrom(s.ctx)
			s.req.Events.Emit(engine.Event{Time: time.Now(), Kind: engine.EventLog, CTID: or.CTID, Stage: or.Stage,
				Source: or.Source, Level: "WARN", Message: msg})
		}
	})
}

// call answers one shim request, writing its output to stdout and stderr.
func (s *shimServer) call(req shimRequest, stdout, stderr io.Writer) int {
	if req.Cmd == "pct" {
		return pctCall(s.ctx, s.req.Backend, req, stdout, stderr)
	}
	if s.req.DryRun {
		if s.req.Events != nil {
			or := engine.OriginFrom(s.ctx)
			s.req.Events.Emit(engine.Event{
				Time: time.Now(), Kind: engine.EventAction, CTID: or.CTID, Stage: or.Stage, Source: or.Source,
				Argv: append([]string{req.Cmd}, req.Args...),
			})
		}
		return 0
	}
	fmt.Fprintf(stderr, "%s: not available on the %s backend (a hook can use pct only)\n", req.Cmd, backendName(s.req.Backend))
	return 127
}

func backendName(b engine.Backend) string {
	if b == nil {
		return "(none)"
	}
	return b.Name()
}

// errUnmapped marks a pct invocation the shim cannot map onto the Backend.
var errUnmapped = errors.New("phoenix shim cannot map this pct command onto the backend")
