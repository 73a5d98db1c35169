package engine

import (
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// pct's vocabulary lives in internal/pve; the engine speaks it through
// these names so that backends and stages need not import it.

// ErrNotExist is returned (wrapped) by Backend reads for a missing container.
var ErrNotExist = pve.ErrNotExist

// Option is one `--key value` pair; order is kept so argv is stable.
type Option = pve.Option

// CreateSpec is `pct create CTID TEMPLATE opts...`.
type CreateSpec = pve.CreateSpec

// CloneSpec is `pct clone Source CTID --snapname Snapshot --hostname ...`.
type CloneSpec = pve.CloneSpec

// PushOptions are pct push's --user/--group/--perms.
type PushOptions = pve.PushOptions

func CreateArgv(s CreateSpec) []string                       { return pve.CreateArgv(s) }
func CloneArgv(s CloneSpec) []string                         { return pve.CloneArgv(s) }
func SetArgv(ctid int, opts []Option, del []string) []string { return pve.SetArgv(ctid, opts, del) }
func StartArgv(ctid int) []string                            { return pve.StartArgv(ctid) }
func StopArgv(ctid int) []string                             { return pve.StopArgv(ctid) }
func ShutdownArgv(ctid int, timeout time.Duration) []string  { return pve.ShutdownArgv(ctid, timeout) }
func SnapshotArgv(ctid int, name string) []string            { return pve.SnapshotArgv(ctid, name) }
func DestroyArgv(ctid int) []string                          { return pve.DestroyArgv(ctid) }
func DelSnapshotArgv(ctid int, name string) []string         { return pve.DelSnapshotArgv(ctid, name) }
func ResizeArgv(ctid int, disk, size string) []string        { return pve.ResizeArgv(ctid, disk, size) }
func StatusArgv(ctid int) []string                           { return pve.StatusArgv(ctid) }
func ConfigArgv(ctid int) []string                           { return pve.ConfigArgv(ctid) }
func ListSnapshotsArgv(ctid int) []string                    { return pve.ListSnapshotsArgv(ctid) }
func ListArgv() []string                                     { return pve.ListArgv() }
func AppendRawArgv(ctid int, lines []string) []string        { return pve.AppendRawArgv(ctid, lines) }
func EditRawArgv(ctid int, edit RawEdit) []string            { return pve.EditRawArgv(ctid, edit) }

// RawEdit is a change of a container's raw lxc.* lines (pve.MergeRaw).
type RawEdit = pve.RawEdit

// PushArgv is `pct push CTID SRC DEST [--user --group --perms]`.
func PushArgv(ctid int, src, dest string, o PushOptions) []string {
	return pve.PushArgv(ctid, src, dest, o)
}

// ExecArgv is `pct exec CTID -- [env K=V ...] argv...`.
func ExecArgv(ctid int, argv []string, env map[string]string) []string {
	return pve.ExecArgv(ctid, argv, env)
}

// FormatArgv renders "pct " + argv as a shell-safe command line.
func FormatArgv(argv []string) string { return pve.FormatArgv(argv) }

func fmtArgv(argv []string) string { return pve.JoinQuoted(argv) }
func shellQuote(s string) string   { return pve.ShellQuote(s) }
