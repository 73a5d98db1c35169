package engine

import (
	"context"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// StageBoot sets start at boot, the boot order and the DNS servers.
const StageBoot = "boot"

// bootStage sets onboot and startup (start_at_boot, boot_order,
// boot_delay) and nameserver (network_config.nameservers).
// Reads: `pct config` (onboot, startup, nameserver).
// Writes: `pct set` of those that differ, nothing when they match.
var bootStage = Stage{Key: StageBoot, Name: named(StageBoot), Applies: hasBoot, Run: (*ctRun).stageBoot}

func hasBoot(ct *Container) bool { return ct.Later.Boot != nil || len(ct.Later.Nameservers) > 0 }

func (c *ctRun) stageBoot(ctx context.Context) (outcome, error) {
	ct := c.ct
	have, err := c.b.Config(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct config %d", ct.CTID)
	}
	opts := bootDiff(ct, have)
	if len(opts) == 0 {
		return already("matches"), nil
	}
	keys, err := c.set(ctx, opts)
	if err != nil {
		return outcome{}, err
	}
	return done("set %s", keys), nil
}

// bootDiff returns onboot, startup and nameserver where they differ from
// what `pct config` reports.
func bootDiff(ct *Container, have map[string]string) []Option {
	var opts []Option
	if b := ct.Later.Boot; b != nil {
		want := "0"
		if b.OnBoot {
			want = "1"
		}
		got := strings.TrimSpace(have["onboot"])
		if got == "" {
			got = "0" // Proxmox's default
		}
		if got != want {
			opts = append(opts, Option{Key: "onboot", Value: want})
		}
		if s := startupProps(b); len(s) > 0 {
			cur, _ := pve.ParseProps(pve.KindFlags, have["startup"])
			if !sameProps(s, cur) {
				opts = append(opts, Option{Key: "startup", Value: pve.FormatProps(pve.KindFlags, s)})
			}
		}
	}
	if ns := ct.Later.Nameservers; len(ns) > 0 {
		want := strings.Join(ns, " ")
		if strings.Join(strings.Fields(have["nameserver"]), " ") != want {
			opts = append(opts, Option{Key: "nameserver", Value: want})
		}
	}
	return opts
}

// startupProps is startup's order=N,up=D.
func startupProps(b *Boot) map[string]string {
	m := map[string]string{}
	if b.Order != nil {
		m["order"] = strconv.Itoa(*b.Order)
	}
	if b.Delay != nil {
		m["up"] = strconv.Itoa(*b.Delay)
	}
	return m
}

func sameProps(want, have map[string]string) bool {
	if len(want) != len(have) {
		return false
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
