package pct

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// pauses makes the backend's retry pauses instant and records them.
func pauses(h host) *[]time.Duration {
	var got []time.Duration
	h.Backend.sleep = func(_ context.Context, d time.Duration) error {
		got = append(got, d)
		return nil
	}
	return &got
}

func countVerb(calls [][]string, verb string) int {
	n := 0
	for _, c := range calls {
		if c[0] == verb {
			n++
		}
	}
	return n
}

// pct's transient lock errors are retried with a growing pause: a set
// refused twice ("CT is locked (backup)") succeeds on the third call.
func TestTransientLockIsRetried(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"locked", "timeout"} {
		h := newHost(t, "FAKE_PCT_FAIL=set:901="+kind+"*2")
		got := pauses(h)
		h.create(t, 901)
		require.NoError(t, h.Set(ctx(t), 901, []engine.Option{{Key: "cores", Value: "2"}}, nil), kind)
		assert.Equal(t, 3, countVerb(h.calls(t), "set"), kind)
		assert.Equal(t, []time.Duration{500 * time.Millisecond, time.Second}, *got, kind)
	}
}

// The retry is bounded: a lock that stays fails after the last attempt,
// as a typed error.
func TestTransientLockRetryIsBounded(t *testing.T) {
	t.Parallel()
	h := newHost(t, "FAKE_PCT_FAIL=set:901=locked*100")
	got := pauses(h)
	h.create(t, 901)
	err := h.Set(ctx(t), 901, []engine.Option{{Key: "cores", Value: "2"}}, nil)
	var locked *pve.ErrLocked
	require.ErrorAs(t, err, &locked)
	assert.Equal(t, "backup", locked.Lock)
	assert.Equal(t, defaultRetryAttempts, countVerb(h.calls(t), "set"))
	assert.Len(t, *got, defaultRetryAttempts-1)
}

// Neither other failures nor exec are retried: exec's stderr is the
// command's own, and the command may have done its work.
func TestOnlyTransientLocksAreRetried(t *testing.T) {
	t.Parallel()
	h := newHost(t, "FAKE_PCT_FAIL=set:901*1,exec:901=locked*1")
	got := pauses(h)
	h.create(t, 901)
	require.NoError(t, h.Start(ctx(t), 901))
	require.Error(t, h.Set(ctx(t), 901, []engine.Option{{Key: "cores", Value: "2"}}, nil))
	res, err := h.Exec(ctx(t), 901, []string{"true"}, engine.ExecOptions{})
	require.NoError(t, err, "pct exec exits with the command's code")
	assert.Equal(t, 255, res.Code)
	assert.Equal(t, 1, countVerb(h.calls(t), "set"))
	assert.Equal(t, 1, countVerb(h.calls(t), "exec"))
	assert.Empty(t, *got)
}
