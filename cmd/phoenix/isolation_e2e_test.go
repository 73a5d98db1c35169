package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// TestPlanProbesLeaveTheHostAlone: `phoenix plan` and `run --dry-run` of
// examples/ with the legacy 940 hook replaced by probes of issue 8 (host
// file writes by path, through /proc/$PPID/root and nsenter -m, a
// loopback connection, the domain name, a sysctl through a fresh /proc, a
// setsid daemon that would write later). The hook runs (its first line is
// in the plan), and every witness is unchanged afterwards. The hooks
// package runs each probe alone (hooks/isolate_probe_test.go).
func TestPlanProbesLeaveTheHostAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the dry-run isolation of shell hooks")
	}
	for _, args := range [][]string{{"phoenix", "plan"}, {"phoenix", "run", "--dry-run"}} {
		t.Run(args[1], func(t *testing.T) {
			fakeHost(t)
			dir := t.TempDir()
			canary := filepath.Join(dir, "canary")
			require.NoError(t, os.WriteFile(canary, []byte("original\n"), 0o644))
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			domain := "/proc/sys/kernel/domainname"
			sysctl := "/proc/sys/kernel/printk_ratelimit_burst"
			saved := map[string][]byte{}
			for _, p := range []string{domain, sysctl} {
				saved[p], err = os.ReadFile(p)
				require.NoError(t, err)
			}
			t.Cleanup(func() {
				for p, v := range saved {
					if now, _ := os.ReadFile(p); !bytes.Equal(now, v) {
						_ = os.WriteFile(p, v, 0o644)
					}
				}
			})
			marker := fmt.Sprintf("phoenix-e2e-probe-%d-%s", os.Getpid(), args[1])
			hook := strings.Join([]string{
				"#!/bin/bash",
				"echo 'probe hook ran'",
				"echo x >> " + canary,
				"echo x >> /proc/$PPID/root" + canary,
				"nsenter -t $PPID -m sh -c 'echo x >> " + canary + "'",
				"(exec 3<>/dev/tcp/127.0.0.1/" + port + ")",
				"domainname phoenix-probe",
				"mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo 99 > /tmp/p/sys/kernel/printk_ratelimit_burst",
				"setsid bash -c 'exec -a " + marker + " bash -c \"sleep 1; echo x >> " + canary + "\"' </dev/null >/dev/null 2>&1 &",
				"exit 0",
			}, "\n") + "\n"
			hooks := filepath.Join(dir, "hooks")
			require.NoError(t, os.Mkdir(hooks, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(hooks, "phoenix_hypervisor_setup_940.sh"), []byte(hook), 0o755))

			var stdout, stderr bytes.Buffer
			env := exampleEnv(t, &stdout, &stderr)
			get := env.Getenv
			env.Getenv = func(k string) string {
				if k == "PHOENIX_HOOKS_DIR" {
					return hooks
				}
				return get(k)
			}
			code := run(context.Background(), args, env)
			require.Equal(t, engine.ExitOK, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			runLog, err := os.ReadFile(env.Getenv("PHOENIX_LOG_FILE"))
			require.NoError(t, err)
			assert.Contains(t, string(runLog), "phoenix_hypervisor_setup_940.sh: probe hook ran", "the hook ran inside the isolation")

			data, err := os.ReadFile(canary)
			require.NoError(t, err)
			assert.Equal(t, "original\n", string(data), "a host file changed")
			_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
			if c, err := ln.Accept(); err == nil {
				c.Close()
				t.Error("the loopback listener was reached")
			}
			for p, v := range saved {
				now, _ := os.ReadFile(p)
				assert.Equal(t, string(v), string(now), "%s changed", p)
			}
			assert.Empty(t, processesNamed(marker), "the hook's setsid daemon outlived the plan")
		})
	}
}

// processesNamed returns the pids of running processes whose argv[0] is name.
func processesNamed(name string) []int {
	des, _ := os.ReadDir("/proc")
	var out []int
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", de.Name(), "cmdline"))
		if err == nil && strings.SplitN(string(data), "\x00", 2)[0] == name {
			out = append(out, pid)
		}
	}
	return out
}
