package fakepct

import (
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// resize serves `pct resize CTID DISK SIZE`: SIZE absolute ("64G") or
// relative ("+2G"); a disk only grows.
func (f *Fake) resize(c *call) error {
	p, id, ct, err := f.loadCT(c, "vmid", "disk", "size")
	if err != nil {
		return err
	}
	if err := checkLock(ct); err != nil {
		return err
	}
	disk, size := p.pos[1], p.pos[2]
	old, ok := pve.ParseVolume(ct.Config[disk])
	if !ok {
		return refuse("400 Parameter verification failed.\ndisk: no such disk '%s'", disk)
	}
	mib := pve.ParseSizeMiB(strings.TrimPrefix(size, "+"))
	if mib == 0 {
		return refuse("400 Parameter verification failed.\nsize: value does not match the regex pattern")
	}
	if strings.HasPrefix(size, "+") {
		mib += old.SizeMiB
	}
	if mib < old.SizeMiB {
		return refuse("unable to shrink disk size")
	}
	ct.Config[disk] = pve.WithSize(ct.Config[disk], pve.FormatSizeGB(mib)+"G")
	return Save(f.StateDir, id, ct)
}
