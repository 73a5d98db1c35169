package pve

import (
	"strconv"
	"strings"
)

// Volume is a disk (rootfs, mpN) as `pct config` reports it:
// "local-lvm:vm-910-disk-0,size=32G", or the new-volume form
// "local-lvm:32" a plan has not allocated yet.
type Volume struct {
	Storage string
	SizeMiB int // 0: unknown
}

// ParseVolume parses a volume value; ok is false when it is empty.
func ParseVolume(v string) (Volume, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Volume{}, false
	}
	parts := strings.Split(v, ",")
	storage, volume, hasColon := strings.Cut(parts[0], ":")
	r := Volume{}
	if hasColon {
		r.Storage = storage
		if gb, err := strconv.ParseFloat(volume, 64); err == nil {
			r.SizeMiB = int(gb * 1024)
		}
	}
	for _, p := range parts[1:] {
		if size, found := strings.CutPrefix(p, "size="); found {
			r.SizeMiB = ParseSizeMiB(size)
		}
	}
	return r, true
}

// ParseSizeMiB reads a Proxmox disk size (32G, 512M, 1T, 1.5G; bare: G).
func ParseSizeMiB(s string) int {
	unit := 1024.0
	switch {
	case strings.HasSuffix(s, "T"):
		unit, s = 1024*1024, strings.TrimSuffix(s, "T")
	case strings.HasSuffix(s, "G"):
		s = strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		unit, s = 1, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		unit, s = 1.0/1024, strings.TrimSuffix(s, "K")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0
	}
	return int(f * unit)
}

// OnStorage is a volume value moved to storage, as a full clone with
// --storage leaves it: "local-lvm:vm-910-disk-0,size=32G" on "tank" is
// "tank:vm-910-disk-0,size=32G". A bind mount (a host path) stays.
func OnStorage(volume, storage string) string {
	head, rest, _ := strings.Cut(volume, ",")
	_, vol, ok := strings.Cut(head, ":")
	if !ok || strings.HasPrefix(head, "/") {
		return volume
	}
	out := storage + ":" + vol
	if rest != "" {
		out += "," + rest
	}
	return out
}

// FormatSizeGB spells MiB as the config's storage_size_gb does.
func FormatSizeGB(mib int) string {
	if mib%1024 == 0 {
		return strconv.Itoa(mib / 1024)
	}
	return strconv.FormatFloat(float64(mib)/1024, 'f', 1, 64)
}

// WithSize is a volume value with its size set to size ("64G"), as
// `pct resize` leaves it: "local-lvm:vm-910-disk-0,size=64G"; the
// new-volume form "local-lvm:32" becomes "local-lvm:64".
func WithSize(volume, size string) string {
	parts := strings.Split(volume, ",")
	if storage, v, ok := strings.Cut(parts[0], ":"); ok {
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			parts[0] = storage + ":" + FormatSizeGB(ParseSizeMiB(size))
			return strings.Join(parts, ",")
		}
	}
	for i, p := range parts[1:] {
		if strings.HasPrefix(p, "size=") {
			parts[i+1] = "size=" + size
			return strings.Join(parts, ",")
		}
	}
	return strings.Join(append(parts, "size="+size), ",")
}
