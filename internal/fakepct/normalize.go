package fakepct

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
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
	props := map[string]string{}
	for _, part := range strings.Split(value, ",") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		props[k] = v
	}
	if props["hwaddr"] == "" {
		props["hwaddr"] = mac(ctid, key)
	}
	if props["type"] == "" {
		props["type"] = "veth"
	}
	name, hasName := props["name"]
	delete(props, "name")
	out := sortedProps(props)
	if hasName {
		out = append([]string{"name=" + name}, out...)
	}
	return strings.Join(out, ",")
}

func sortedPropertyString(value string) string {
	props := map[string]string{}
	var bare []string
	for _, part := range strings.Split(value, ",") {
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			bare = append(bare, part)
			continue
		}
		props[k] = v
	}
	return strings.Join(append(bare, sortedProps(props)...), ",")
}

func sortedProps(props map[string]string) []string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+props[k])
	}
	return out
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
