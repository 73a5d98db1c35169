package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// createStage makes the container: `pct clone` of its source (at the
// source's template snapshot) or `pct create` from its template.
// Reads: the container's status; the clone source's config entry and its
// pct config (where its root disk is).
// Writes: a new container (create: every option of createOptions; clone:
// the source's snapshot, with the hostname, on storage_pool when that is
// not the source's), its description saying what
// it was made from (drift.go: a later change of template or clone source
// is then drift).
var createStage = Stage{Key: StageCreate, Name: func(ct *Container) string {
	if ct.CloneFrom != 0 {
		return StageClone
	}
	return StageCreate
}, Applies: always, Run: (*ctRun).stageCreate}

func (c *ctRun) stageCreate(ctx context.Context) (outcome, error) {
	ct := c.ct
	if err := checkPropertyParts(ct); err != nil {
		return outcome{}, err
	}
	st, err := c.b.Status(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct status %d", ct.CTID)
	}
	if st.Exists {
		return already("exists: skip"), nil
	}
	if ct.CloneFrom != 0 {
		spec := CloneSpec{Source: ct.CloneFrom, CTID: ct.CTID, Hostname: ct.Hostname}
		if src := c.cfg.Containers[ct.CloneFrom]; src != nil && isTemplate(src) {
			spec.Snapshot = templateSnapshot(src)
		}
		spec.Description = ClonedDescription(spec.Source, spec.Snapshot)
		release, err := c.lockSource(ctx, spec.Source)
		if err != nil {
			return outcome{}, err
		}
		// The source's config is read under its lock, as the clone is.
		if spec.Storage, err = c.cloneStorage(ctx); err == nil {
			// --storage is for full clones only; phoenix's sources are not
			// pct templates, so theirs are full anyway: say so.
			spec.Full = spec.Storage != ""
			err = c.b.Clone(ctx, spec)
		}
		release()
		if err != nil {
			// A lock refusing a clone is its source's.
			return outcome{}, withHint(pctError(err, "pct clone %d %d", spec.Source, spec.CTID), spec.Source)
		}
		if spec.Snapshot != "" {
			return done("cloned from %d@%s", spec.Source, spec.Snapshot), nil
		}
		return done("cloned from %d", spec.Source), nil
	}
	if ct.Template == "" {
		return outcome{}, fmt.Errorf("container %d has neither a template nor a clone source: set template or clone_from_ctid in lxc_configs", ct.CTID)
	}
	spec := CreateSpec{CTID: ct.CTID, Template: ct.Template, Options: createOptions(ct)}
	if err := c.b.Create(ctx, spec); err != nil {
		return outcome{}, pctError(err, "pct create %d", ct.CTID)
	}
	return done("created from %s", ct.Template), nil
}

// cloneStorage is the pool a new clone's disks must go to (pct clone
// --storage) when its storage_pool is not where its source's root disk is
// ("" when it is, or when the entry names none: pct copies the source's).
func (c *ctRun) cloneStorage(ctx context.Context) (string, error) {
	ct := c.ct
	if ct.StoragePool == "" {
		return "", nil
	}
	cfg, err := c.b.Config(ctx, ct.CloneFrom)
	if errors.Is(err, ErrNotExist) {
		return "", nil // the clone says the source is missing
	}
	if err != nil {
		return "", pctError(err, "pct config %d", ct.CloneFrom)
	}
	if r, ok := ParseRootfs(cfg["rootfs"]); ok && r.Storage != "" && r.Storage != ct.StoragePool {
		return ct.StoragePool, nil
	}
	return "", nil
}

func createOptions(ct *Container) []Option {
	opts := plainOptions(ct)
	add := func(k, v string) { opts = append(opts, Option{Key: k, Value: v}) }
	if ct.StoragePool != "" && ct.StorageSizeGB > 0 {
		add("rootfs", ct.StoragePool+":"+strconv.Itoa(ct.StorageSizeGB))
	}
	if n := DesiredNet0(ct.Net); n != nil {
		add("net0", net0Option(n))
	}
	if f := desiredFeatures(ct); len(f) > 0 {
		add("features", FormatFeatures(f))
	}
	if ct.Unprivileged {
		add("unprivileged", "1")
	} else {
		add("unprivileged", "0")
	}
	add("description", CreatedDescription(ct.Template))
	return opts
}
