package hoststate

import (
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Verb is one of pct's state-changing calls as a value: its name, the
// container it acts on, its argv (internal/pve) and what it does to the
// model. The backends built on the model record and apply these, so that
// each call is spelled once.
type Verb struct {
	Op    string
	CTID  int
	Argv  []string
	Apply func(h *Host) error
}

// CreateVerb is `pct create`: the options as given become the config,
// with ostemplate.
func CreateVerb(s pve.CreateSpec) Verb {
	return Verb{"create", s.CTID, pve.CreateArgv(s), func(h *Host) error {
		cfg := map[string]string{"ostemplate": s.Template}
		for _, o := range s.Options {
			cfg[o.Key] = o.Value
		}
		return h.Create(s.CTID, &Container{Config: cfg})
	}}
}

func CloneVerb(s pve.CloneSpec) Verb {
	return Verb{"clone", s.CTID, pve.CloneArgv(s), func(h *Host) error {
		return h.Clone(s.Source, s.CTID, CloneOptions{Snapshot: s.Snapshot, Full: s.Full, Storage: s.Storage,
			Hostname: s.Hostname, Description: s.Description})
	}}
}

func SetVerb(ctid int, opts []pve.Option, del []string) Verb {
	return Verb{"set", ctid, pve.SetArgv(ctid, opts, del), func(h *Host) error { return h.Set(ctid, opts, del) }}
}

func AppendRawVerb(ctid int, lines []string) Verb {
	return Verb{"append-raw", ctid, pve.AppendRawArgv(ctid, lines), func(h *Host) error { return h.AppendRaw(ctid, lines) }}
}

// EditRawVerb applies a pve.MergeRaw edit (raw lines replaced or removed,
// the description holding their record).
func EditRawVerb(ctid int, edit pve.RawEdit) Verb {
	return Verb{"edit-raw", ctid, pve.EditRawArgv(ctid, edit), func(h *Host) error { return h.EditRaw(ctid, edit) }}
}

func StartVerb(ctid int) Verb {
	return Verb{"start", ctid, pve.StartArgv(ctid), func(h *Host) error { return h.Start(ctid) }}
}

func StopVerb(ctid int) Verb {
	return Verb{"stop", ctid, pve.StopArgv(ctid), func(h *Host) error { return h.Stop(ctid) }}
}

func ShutdownVerb(ctid int, timeout time.Duration) Verb {
	return Verb{"shutdown", ctid, pve.ShutdownArgv(ctid, timeout), func(h *Host) error { return h.Stop(ctid) }}
}

func SnapshotVerb(ctid int, name string) Verb {
	return Verb{"snapshot", ctid, pve.SnapshotArgv(ctid, name), func(h *Host) error { return h.Snapshot(ctid, name, "") }}
}

func DeleteSnapshotVerb(ctid int, name string) Verb {
	return Verb{"delsnapshot", ctid, pve.DelSnapshotArgv(ctid, name), func(h *Host) error { return h.DeleteSnapshot(ctid, name) }}
}

func DestroyVerb(ctid int) Verb {
	return Verb{"destroy", ctid, pve.DestroyArgv(ctid), func(h *Host) error { return h.Destroy(ctid) }}
}

func ResizeVerb(ctid int, disk, size string) Verb {
	return Verb{"resize", ctid, pve.ResizeArgv(ctid, disk, size), func(h *Host) error { return h.Resize(ctid, disk, size) }}
}
