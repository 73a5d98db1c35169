package pct

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// ConfPath is the container's configuration file under the backend's
// PVEDir: <PVEDir>/lxc/<CTID>.conf.
func (b *Backend) ConfPath(ctid int) string {
	return filepath.Join(b.pveDir, "lxc", strconv.Itoa(ctid)+".conf")
}

// AppendRaw adds raw lxc.* lines to the container's configuration file,
// which pct has no command for. Lines already present are not added again;
// new lines go at the end of the main section, before any [snapshot]
// section. The file must exist (the container is on this node): it is
// never created. Proxmox's config lock is held meanwhile.
func (b *Backend) AppendRaw(ctx context.Context, ctid int, lines []string) error {
	return b.editConf(ctx, ctid, "append to", func(conf string) (string, bool) { return insertRaw(conf, lines) })
}

// EditRaw applies edit (pve.MergeRaw): the raw lines in the configuration
// file itself, as AppendRaw; the description, which holds the record of
// the lines Phoenix wrote, with `pct set --description`, so pct writes it
// as Proxmox keeps it (encoded comment lines at the top).
func (b *Backend) EditRaw(ctx context.Context, ctid int, edit engine.RawEdit) error {
	if len(edit.Changes) > 0 {
		err := b.editConf(ctx, ctid, "edit", func(conf string) (string, bool) {
			out := pve.EditConfRaw(conf, edit)
			return out, out != conf
		})
		if err != nil {
			return err
		}
	}
	if !edit.DescriptionChanged {
		return nil
	}
	if edit.Description == "" {
		return b.Set(ctx, ctid, nil, []string{"description"})
	}
	return b.Set(ctx, ctid, []engine.Option{{Key: "description", Value: edit.Description}}, nil)
}

// editConf rewrites the container's configuration file with fn under
// Proxmox's config lock; op names the change in errors.
func (b *Backend) editConf(ctx context.Context, ctid int, op string, fn func(conf string) (string, bool)) error {
	path := b.ConfPath(ctid)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s: container %d has no configuration on this node: %w", op, path, ctid, engine.ErrNotExist)
		}
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := b.lockConfig(ctid)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	defer unlock()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	updated, changed := fn(string(data))
	if !changed {
		return nil
	}
	if err := replaceFile(path, []byte(updated)); err != nil {
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	return nil
}

// insertRaw puts the lines missing from conf at the end of its main
// section.
func insertRaw(conf string, lines []string) (string, bool) {
	all := strings.SplitAfter(conf, "\n")
	end := len(all)
	present := map[string]bool{}
	for i, l := range all {
		if strings.HasPrefix(l, "[") {
			end = i
			break
		}
		present[strings.TrimSpace(l)] = true
	}
	var add []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l != "" && !present[l] {
			add = append(add, l+"\n")
			present[l] = true
		}
	}
	if len(add) == 0 {
		return conf, false
	}
	head := strings.Join(all[:end], "")
	if head != "" && !strings.HasSuffix(head, "\n") {
		head += "\n"
	}
	tail := strings.Join(all[end:], "")
	if tail != "" {
		// Proxmox separates sections by an empty line; keep it before the
		// first snapshot section.
		head = strings.TrimSuffix(head, "\n\n") + "\n"
		return head + strings.Join(add, "") + "\n" + tail, true
	}
	return head + strings.Join(add, ""), true
}

// replaceFile writes data beside path and renames it over path, as
// Proxmox itself writes /etc/pve files.
func replaceFile(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// lockConfig takes Proxmox's config lock of the container
// (<LockDir>/pve-config-<CTID>.lock), waiting as pct does, at most 10 s.
func (b *Backend) lockConfig(ctid int) (func(), error) {
	if err := os.MkdirAll(b.lockDir, 0o755); err != nil {
		return nil, fmt.Errorf("config lock: %w", err)
	}
	path := filepath.Join(b.lockDir, fmt.Sprintf("pve-config-%d.lock", ctid))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("config lock: %w", err)
	}
	for tries := 0; ; tries++ {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || tries >= 100 {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("can't lock file '%s' - got timeout: another Proxmox task holds it, retry when it is done", path)
			}
			return nil, fmt.Errorf("config lock: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
