package engine

import (
	"fmt"
	"regexp"
	"strings"
)

// The configuration schema already refuses every value below; these
// checks are the second line, at the point of use, so that a value that
// reached the engine some other way (a test, a future loader) still never
// becomes a pct option, a key of a property string or shell code.

// driverVersion is what an NVIDIA driver version looks like; it is
// spliced into a script's file name and the install tag.
var driverVersion = regexp.MustCompile(`^[0-9]+(\.[0-9]+){1,2}$`)

// checkDriverVersion refuses a version that is not digits and dots.
func checkDriverVersion(v string) error {
	if !driverVersion.MatchString(v) {
		return fmt.Errorf("nvidia_driver_version %q: expected digits and dots like 580.76.06", v)
	}
	return nil
}

// checkPropertyParts refuses container values that become components of
// pct property strings (rootfs, net0) or options of their own and would
// add a key (",", "="), a line, or be taken for an option ("-").
func checkPropertyParts(ct *Container) error {
	type part struct{ field, value, forbidden string }
	parts := []part{
		{"storage_pool", ct.StoragePool, ",=:"},
		{"name", ct.Hostname, ",="},
		{"template", ct.Template, ","},
	}
	if n := ct.Net; n != nil {
		parts = append(parts,
			part{"network_config.name", n.Name, ",="},
			part{"network_config.bridge", n.Bridge, ",="},
			part{"network_config.ip", n.IP, ",="},
			part{"network_config.gw", n.GW, ",="},
			part{"mac_address", n.HWAddr, ",="},
		)
	}
	for _, p := range parts {
		if err := checkPart(p.field, p.value, p.forbidden); err != nil {
			return fmt.Errorf("container %d: %w", ct.CTID, err)
		}
	}
	return nil
}

func checkPart(field, value, forbidden string) error {
	switch {
	case strings.HasPrefix(value, "-"):
		return fmt.Errorf("%s %q starts with '-' and would be read as a pct option: fix it in lxc_configs", field, value)
	case strings.ContainsAny(value, forbidden+"\n\r\x00"):
		return fmt.Errorf("%s %q holds one of %q or a control character, which would change pct's property string: fix it in lxc_configs", field, value, forbidden)
	}
	return nil
}

// checkImage refuses a Docker image that docker run would read as an
// option or as more than one argument.
func checkImage(image string) error {
	if image == "" || strings.HasPrefix(image, "-") || strings.ContainsAny(image, " \t\n\r\x00") {
		return fmt.Errorf("docker image %q: expected a reference like portainer/agent:latest (no spaces, not starting with '-'): fix it in the hypervisor config's docker section", image)
	}
	return nil
}
