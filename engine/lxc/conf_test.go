package lxc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfKeepsUnmanagedLinesAndOrder(t *testing.T) {
	src := "# a comment\nlxc.include = /x.conf\nlxc.uts.name = a\n\nlxc.mount.entry = a b\nlxc.mount.entry = c d\n#phoenix: net0: name=eth0,bridge=vmbr0\n"
	c := parseConf(src)
	assert.Equal(t, src, c.String())
	assert.Equal(t, []string{"a b", "c d"}, c.Get("lxc.mount.entry"))
	v, ok := c.Meta("net0")
	assert.True(t, ok)
	assert.Equal(t, "name=eth0,bridge=vmbr0", v)

	c.Set("lxc.uts.name", "b")
	c.Set("lxc.mount.entry", "e f")
	c.SetMeta("net0", "name=eth1")
	c.Set("lxc.new", "1")
	assert.Equal(t, "# a comment\nlxc.include = /x.conf\nlxc.uts.name = b\n\nlxc.mount.entry = e f\n#phoenix: net0: name=eth1\nlxc.new = 1\n", c.String())
}

func TestConfAddDel(t *testing.T) {
	c := parseConf("")
	assert.Empty(t, c.String())
	c.Add("lxc.include", "a")
	c.Add("lxc.include", "a")
	c.Add("lxc.include", "b")
	assert.Equal(t, []string{"a", "b"}, c.Get("lxc.include"))
	c.DelValue("lxc.include", "a")
	assert.Equal(t, []string{"b"}, c.Get("lxc.include"))
	c.Set("lxc.net.0.type", "veth")
	c.Set("lxc.net.0.link", "br0")
	c.DelPrefix("lxc.net.0.")
	assert.Equal(t, []string{"lxc.include"}, c.Keys())
	c.SetMeta("swap", "512")
	c.DelMeta("swap")
	_, ok := c.Meta("swap")
	assert.False(t, ok)
}

func TestConfWriteIsAtomicAndReadable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config")
	c := parseConf("lxc.uts.name = x\n")
	require.NoError(t, c.write(p))
	got, err := readConf(p)
	require.NoError(t, err)
	assert.Equal(t, "x", got.First("lxc.uts.name"))
	ents, err := os.ReadDir(filepath.Dir(p))
	require.NoError(t, err)
	assert.Len(t, ents, 1, "no temp file left behind")
}

func TestWritableRootfs(t *testing.T) {
	assert.Equal(t, "/x/rootfs", writableRootfs("dir:/x/rootfs"))
	assert.Equal(t, "/x/rootfs", writableRootfs("/x/rootfs"))
	assert.Equal(t, "/p/101/overlay/delta", writableRootfs("overlay:/p/100/snaps/snap0/rootfs:/p/101/overlay/delta"))
	assert.Equal(t, "", writableRootfs("zfs:pool/x"))
}
