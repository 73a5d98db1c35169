package lxc

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// LXC names snapshots snap0, snap1, ...; the pct name is kept in the
// snapshot's comment as "phoenix-snapshot: NAME".
const snapCommentPrefix = "phoenix-snapshot: "

var snapName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]+$`)

type snapshot struct {
	name    string // pct name (the LXC name when no comment)
	lxcName string // snapN
}

// snapshots lists a container's snapshots with `lxc-snapshot -L -C`.
func (b *Backend) snapshots(ctx context.Context, ctid int) ([]snapshot, error) {
	if !b.exists(ctid) {
		return nil, b.notExist("listsnapshot", ctid)
	}
	out, err := b.run(ctx, nil, "lxc-snapshot", "-n", b.name(ctid), "-P", b.path, "-L", "-C")
	if err != nil {
		return nil, fmt.Errorf("listsnapshot %d: %w", ctid, err)
	}
	return parseSnapshots(out), nil
}

// snapHeader is lxc-snapshot -L's line: "snap0 (/path/snaps) 2026:11:25 21:27:11".
var snapHeader = regexp.MustCompile(`^(\S+) \((.*)\) (.*)$`)

func parseSnapshots(out string) []snapshot {
	var snaps []snapshot
	for _, l := range strings.Split(out, "\n") {
		if m := snapHeader.FindStringSubmatch(l); m != nil {
			snaps = append(snaps, snapshot{name: m[1], lxcName: m[1]})
			continue
		}
		if n, ok := strings.CutPrefix(l, snapCommentPrefix); ok && len(snaps) > 0 {
			snaps[len(snaps)-1].name = strings.TrimSpace(n)
		}
	}
	return snaps
}

func (b *Backend) ListSnapshots(ctx context.Context, ctid int) ([]string, error) {
	snaps, err := b.snapshots(ctx, ctid)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, s.name)
	}
	return out, nil
}

// snapshotStopTimeout bounds the clean stop before a snapshot.
const snapshotStopTimeout = 30 * time.Second

// Snapshot takes snapshot name. LXC cannot snapshot a running container:
// a running one is shut down, snapshotted and started again.
func (b *Backend) Snapshot(ctx context.Context, ctid int, name string) error {
	if !snapName.MatchString(name) || len(name) > 40 {
		return fmt.Errorf("snapshot %d: invalid snapshot name %q: want a letter then letters, digits, _ or -, at most 40", ctid, name)
	}
	snaps, err := b.snapshots(ctx, ctid)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.name == name {
			return fmt.Errorf("snapshot %d: snapshot name '%s' already used", ctid, name)
		}
	}
	st, err := b.Status(ctx, ctid)
	if err != nil {
		return err
	}
	if st.Running {
		if err := b.Shutdown(ctx, ctid, snapshotStopTimeout); err != nil {
			return fmt.Errorf("snapshot %d: stop before snapshot: %w", ctid, err)
		}
	}
	err = b.takeSnapshot(ctx, ctid, name)
	if st.Running {
		if serr := b.Start(ctx, ctid); serr != nil && err == nil {
			err = fmt.Errorf("snapshot %d: start after snapshot: %w", ctid, serr)
		}
	}
	return err
}

func (b *Backend) takeSnapshot(ctx context.Context, ctid int, name string) error {
	f, err := os.CreateTemp("", "phoenix-snapshot-comment-")
	if err != nil {
		return fmt.Errorf("snapshot %d: %w", ctid, err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(snapCommentPrefix + name + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot %d: %w", ctid, err)
	}
	if _, err := b.run(ctx, nil, "lxc-snapshot", "-n", b.name(ctid), "-P", b.path, "-c", f.Name()); err != nil {
		return fmt.Errorf("snapshot %d %s: %w", ctid, name, err)
	}
	return nil
}
