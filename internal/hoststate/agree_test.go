package hoststate_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/fakepct"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// The three users of the model answer the same verbs the same way: random
// sequences of pct calls, applied to the in-process fake (memhost), the
// dry-run backend over an empty host, and the fake pct (run in process),
// leave the same containers and get the same refusals, call by call.

// ctids is the pool the calls pick from: small, so that they collide
// (create of an existing id, clone onto one, destroy of a source).
var ctids = []int{100, 101, 102, 103}

// call is one generated verb: its argv (what the fake pct runs) and the
// same call on an engine.Backend.
type call struct {
	argv []string
	on   func(ctx context.Context, b engine.Backend) error
}

// genCall draws a call; most pick their containers by what exists now
// (a clone from an existing source onto a free id), so that sequences
// get past "does not exist" to the rules that need some state.
func genCall(r *rand.Rand, now map[int]ct, pushFile string) call {
	var existing, free []int
	for _, id := range ctids {
		if _, ok := now[id]; ok {
			existing = append(existing, id)
		} else {
			free = append(free, id)
		}
	}
	pick := func(likely []int) int {
		if len(likely) > 0 && r.IntN(5) > 0 {
			return likely[r.IntN(len(likely))]
		}
		return ctids[r.IntN(len(ctids))]
	}
	id, other := pick(existing), pick(existing)
	snap := []string{"s1", "s2", "s2", "1bad"}[r.IntN(4)]
	switch r.IntN(17) {
	case 0, 1:
		id := pick(free)
		// Values the fake pct stores as given: a named volume it does not
		// rename, no net (whose MAC it would allocate).
		spec := engine.CreateSpec{CTID: id, Template: "local:vztmpl/debian.tar.zst", Options: []engine.Option{
			{Key: "hostname", Value: fmt.Sprintf("h%d", r.IntN(9))},
			{Key: "memory", Value: fmt.Sprint(512 * (1 + r.IntN(4)))},
			{Key: "rootfs", Value: fmt.Sprintf("local:subvol-%d,size=%dG", id, 4*(1+r.IntN(3)))},
			{Key: "unprivileged", Value: "1"},
		}}
		return call{engine.CreateArgv(spec), func(ctx context.Context, b engine.Backend) error { return b.Create(ctx, spec) }}
	case 2, 3, 4:
		id := pick(free)
		spec := engine.CloneSpec{Source: other, CTID: id, Hostname: fmt.Sprintf("c%d", r.IntN(9)), Full: r.IntN(4) == 0}
		if r.IntN(2) > 0 {
			spec.Snapshot = snap
		}
		return call{engine.CloneArgv(spec), func(ctx context.Context, b engine.Backend) error { return b.Clone(ctx, spec) }}
	case 5, 6:
		var opts []engine.Option
		var del []string
		switch r.IntN(8) {
		case 0, 1:
			opts = []engine.Option{{Key: "template", Value: "1"}}
		case 7:
			opts = []engine.Option{{Key: "lock", Value: "backup"}}
		case 2:
			del = []string{"description"}
		default:
			opts = []engine.Option{{Key: "cores", Value: fmt.Sprint(1 + r.IntN(8))}, {Key: "description", Value: "d"}}
		}
		return call{engine.SetArgv(id, opts, del), func(ctx context.Context, b engine.Backend) error { return b.Set(ctx, id, opts, del) }}
	case 7:
		return call{engine.StartArgv(id), func(ctx context.Context, b engine.Backend) error { return b.Start(ctx, id) }}
	case 8:
		return call{engine.StopArgv(id), func(ctx context.Context, b engine.Backend) error { return b.Stop(ctx, id) }}
	case 9:
		return call{engine.ShutdownArgv(id, 10*time.Second), func(ctx context.Context, b engine.Backend) error {
			return b.Shutdown(ctx, id, 10*time.Second)
		}}
	case 10:
		return call{engine.SnapshotArgv(id, snap), func(ctx context.Context, b engine.Backend) error { return b.Snapshot(ctx, id, snap) }}
	case 11:
		return call{engine.DelSnapshotArgv(id, snap), func(ctx context.Context, b engine.Backend) error {
			return b.(engine.SnapshotDeleter).DeleteSnapshot(ctx, id, snap)
		}}
	case 12, 13:
		return call{engine.DestroyArgv(id), func(ctx context.Context, b engine.Backend) error { return b.Destroy(ctx, id) }}
	case 14:
		// The fake pct pushes pushFile from the host; the backends get
		// its content.
		o := engine.PushOptions{Perms: "0644"}
		return call{engine.PushArgv(id, pushFile, "/root/pushed", o), func(ctx context.Context, b engine.Backend) error {
			return b.Push(ctx, id, "/root/pushed", []byte(pushContent), o)
		}}
	case 15:
		return call{engine.ExecArgv(id, []string{"true"}, nil), func(ctx context.Context, b engine.Backend) error {
			_, err := b.Exec(ctx, id, []string{"true"}, engine.ExecOptions{})
			return err
		}}
	default:
		disk := []string{"rootfs", "rootfs", "mp0"}[r.IntN(3)]
		size := []string{"+1G", "4G", "8G", "16G", "huge"}[r.IntN(5)]
		return call{engine.ResizeArgv(id, disk, size), func(ctx context.Context, b engine.Backend) error {
			return b.(engine.Resizer).Resize(ctx, id, disk, size)
		}}
	}
}

// ct is a container's Proxmox-level state as each user shows it.
type ct struct {
	Config    map[string]string
	Running   bool
	Lock      string
	Snapshots []string
}

// host is one user of the model under test.
type host interface {
	do(c call) error // nil, or pct's refusal
	state() map[int]ct
}

type backendHost struct {
	t *testing.T
	b engine.Backend
}

func (h backendHost) do(c call) error { return c.on(context.Background(), h.b) }

func (h backendHost) state() map[int]ct {
	ctx := context.Background()
	out := map[int]ct{}
	for _, id := range ctids {
		st, err := h.b.Status(ctx, id)
		require.NoError(h.t, err)
		if !st.Exists {
			continue
		}
		cfg, err := h.b.Config(ctx, id)
		require.NoError(h.t, err)
		snaps, err := h.b.ListSnapshots(ctx, id)
		require.NoError(h.t, err)
		if len(snaps) == 0 {
			snaps = nil
		}
		out[id] = ct{Config: cfg, Running: st.Running, Lock: st.Lock, Snapshots: snaps}
	}
	return out
}

type fakeHost struct {
	t *testing.T
	f *fakepct.Fake
}

func (h fakeHost) do(c call) error {
	var stdout, stderr strings.Builder
	switch code := h.f.Run(c.argv, strings.NewReader(""), &stdout, &stderr); code {
	case 0:
		return nil
	case 255:
		return errors.New(strings.TrimSuffix(stderr.String(), "\n"))
	default:
		h.t.Fatalf("pct %v: exit %d: %s", c.argv, code, stderr.String())
		return nil
	}
}

func (h fakeHost) state() map[int]ct {
	out := map[int]ct{}
	for _, id := range ctids {
		c, err := fakepct.Load(h.f.StateDir, id)
		require.NoError(h.t, err)
		if c == nil {
			continue
		}
		var snaps []string
		if len(c.Snapshots) > 0 {
			snaps = c.SnapshotNames()
		}
		out[id] = ct{Config: c.Config, Running: c.Running, Lock: c.Lock, Snapshots: snaps}
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	var r *pve.Refusal
	if errors.As(err, &r) {
		return r.Msg
	}
	return err.Error()
}

const pushContent = "pushed\n"

const (
	seeds        = 20
	callsPerSeed = 60
)

func TestMemhostDryrunAndFakePctAgree(t *testing.T) {
	t.Parallel()
	refusals := map[string]int{}
	pushFile := filepath.Join(t.TempDir(), "pushed")
	require.NoError(t, os.WriteFile(pushFile, []byte(pushContent), 0o644))
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 9))
		hosts := map[string]host{
			"memhost": backendHost{t, memhost.New()},
			"dryrun":  backendHost{t, dryrun.New(nil)},
			"fakepct": fakeHost{t, &fakepct.Fake{StateDir: t.TempDir(), Now: func() time.Time { return time.Unix(1700000000, 0) }}},
		}
		var trail []string
		now := map[int]ct{}
		for range callsPerSeed {
			c := genCall(r, now, pushFile)
			trail = append(trail, pve.FormatArgv(c.argv))
			want := errText(hosts["fakepct"].do(c))
			trail[len(trail)-1] += "  => " + want
			for _, name := range []string{"memhost", "dryrun"} {
				require.Equal(t, want, errText(hosts[name].do(c)), "seed %d, %s disagrees with the fake pct on the last call of:\n%s",
					seed, name, strings.Join(trail, "\n"))
			}
			if want != "ok" {
				refusals[want]++
			}
			wantState := hosts["fakepct"].state()
			now = wantState
			for _, name := range []string{"memhost", "dryrun"} {
				require.Equal(t, wantState, hosts[name].state(), "seed %d, %s's state disagrees with the fake pct's after:\n%s",
					seed, name, strings.Join(trail, "\n"))
			}
		}
	}
	// The sequences reach the refusals they are meant to compare.
	for _, msg := range []string{"already exists on node", "does not exist", "CT is locked (backup)", "already running",
		"not running", "container '10", "is running - destroy failed", "is a template - start failed", "already used",
		"unable to shrink disk size", "still in use by linked cloned", "invalid format"} {
		n := 0
		for got, k := range refusals {
			if strings.Contains(got, msg) {
				n += k
			}
		}
		require.Positive(t, n, "no call was refused with %q: %v", msg, refusals)
	}
}
