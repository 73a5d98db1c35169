package lxc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMappedRootIsWhatIdZeroMapsTo(t *testing.T) {
	c := parseConf("lxc.idmap = u 0 100000 33\nlxc.idmap = u 33 33 1\nlxc.idmap = g 0 200000 65536\n")
	uid, gid, ok := mappedRoot(c)
	require.True(t, ok)
	assert.Equal(t, uint32(100000), uid)
	assert.Equal(t, uint32(200000), gid)
	_, _, ok = mappedRoot(parseConf("lxc.uts.name = x\n"))
	assert.False(t, ok, "a privileged container has no mapped root")
}

// TestAnUnreachableDirectoryIsNamedBeforeTheStart: a 0700 directory above
// the container's (mktemp -d's) keeps the mapped root out; the error names
// it and the chmod that fixes it, and with o+x it passes.
func TestAnUnreachableDirectoryIsNamedBeforeTheStart(t *testing.T) {
	top := t.TempDir()
	private := filepath.Join(top, "private")
	ct := filepath.Join(private, "lxc", "100")
	require.NoError(t, os.MkdirAll(ct, 0o755))
	require.NoError(t, os.Chmod(top, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(top), 0o755)) // t.TempDir makes it 0700
	require.NoError(t, os.Chmod(private, 0o700))
	uid := uint32(os.Getuid()) + 100000 // owns nothing here
	err := checkReachable(100, ct, uid, uid)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot enter "+private+" (mode 0700")
	assert.Contains(t, err.Error(), "chmod o+x "+private)

	require.NoError(t, os.Chmod(private, 0o711))
	assert.NoError(t, checkReachable(100, ct, uid, uid))
}
