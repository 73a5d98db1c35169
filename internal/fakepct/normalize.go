package fakepct

import (
	"fmt"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
)

var (
	netKey  = regexp.MustCompile(`^net[0-9]+$`)
	mpKey   = regexp.MustCompile(`^mp([0-9]+)$`)
	sizeVal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

// normalize turns an option value into what Proxmox stores for key.
func normalize(ctid int, key, value string) string {
	switch {
	case netKey.MatchString(key):
		return normalizeNet(ctid, key, value)
	case key == "features":
		return sortedPropertyString(value)
	case key == "rootfs":
		return normalizeVolume(ctid, 0, value)
	case mpKey.MatchString(key):
		n, _ := strconv.Atoi(mpKey.FindStringSubmatch(key)[1])
		return normalizeVolume(ctid, n+1, value)
	}
	return value
}

// normalizeNet stores netN the Proxmox way: name first, the rest sorted,
// type=veth and a stable generated hwaddr added when missing.
func normalizeNet(ctid int, key, value string) string {
	props, _ := pve.ParseProps(pve.KindNet, value)
	if props["hwaddr"] == "" {
		props["hwaddr"] = mac(ctid, key)
	}
	if props["type"] == "" {
		props["type"] = "veth"
	}
	return pve.FormatProps(pve.KindNet, props)
}

// sortedPropertyString is features (or startup) with its keys sorted.
func sortedPropertyString(value string) string {
	props, _ := pve.ParseProps(pve.KindFlags, value)
	return pve.FormatProps(pve.KindFlags, props)
}

// normalizeVolume turns a new-volume request "STORAGE:SIZE[,opts]" into
// "STORAGE:vm-<ctid>-disk-<n>,size=<SIZE>G[,opts]", as Proxmox allocates
// it. Existing volume names are kept.
func normalizeVolume(ctid, disk int, value string) string {
	head, opts, _ := strings.Cut(value, ",")
	storage, size, ok := strings.Cut(head, ":")
	if !ok || !sizeVal.MatchString(size) {
		return value
	}
	out := fmt.Sprintf("%s:vm-%d-disk-%d,size=%sG", storage, ctid, disk, size)
	if opts != "" {
		out += "," + opts
	}
	return out
}

// mac is a stable locally administered-looking address in Proxmox's
// BC:24:11 range, derived from the container and interface.
func mac(ctid int, iface string) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s", ctid, iface)
	s := h.Sum32()
	return fmt.Sprintf("BC:24:11:%02X:%02X:%02X", byte(s>>16), byte(s>>8), byte(s))
}

// renameVolumes points the cloned container's volumes and MACs at newID.
func renameVolumes(cfg map[string]string, src, newID int) {
	oldVM := fmt.Sprintf("vm-%d-", src)
	oldBase := fmt.Sprintf("base-%d-", src)
	newVM := fmt.Sprintf("vm-%d-", newID)
	for k, v := range cfg {
		switch {
		case k == "rootfs" || mpKey.MatchString(k):
			v = strings.ReplaceAll(v, oldBase, newVM)
			cfg[k] = strings.ReplaceAll(v, oldVM, newVM)
		case netKey.MatchString(k):
			cfg[k] = replaceHWAddr(v, mac(newID, k))
		}
	}
}

func replaceHWAddr(value, addr string) string {
	parts := strings.Split(value, ",")
	for i, p := range parts {
		if strings.HasPrefix(p, "hwaddr=") {
			parts[i] = "hwaddr=" + addr
		}
	}
	return strings.Join(parts, ",")
}

// checkProps refuses a property string pct would refuse (a bare entry
// where the option has no default key: "features: nesting").
func checkProps(key, value string) error {
	kind, ok := pve.KindOf(key)
	if !ok {
		return nil
	}
	if _, err := pve.ParseProps(kind, value); err != nil {
		return pve.Refuse("400 Parameter verification failed.\n" + key + ": " + err.Error())
	}
	return nil
}
