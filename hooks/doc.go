// Package hooks finds each container's hook (phoenix_hypervisor_setup_<CTID>.lua
// or .sh in the hooks dir) and runs it: legacy shell hooks exactly as the
// old orchestrator did (with a recording pct shim and an isolation in
// dry-run), Lua hooks in the luaapi sandbox. Runner implements
// engine.HookRunner.
//
// # Dry-run isolation of shell hooks
//
// `phoenix plan` promises the host does not change, yet a legacy .sh hook
// is arbitrary root code. In dry-run it runs in a sandbox built by
// bubblewrap (bwrap, Debian's package bubblewrap, 0.8 or later), chosen
// over hand-written namespace code because it is small, audited, packaged
// by every distribution and gets the ordering right (new namespaces,
// fresh /proc and /dev, pivot_root, capabilities, seccomp,
// --die-with-parent, --new-session). What bwrap 0.8 lacks phoenix adds
// around it (isolate_linux.go, isolate_helper_linux.go):
//
//   - the throwaway layer: bwrap 0.8 has no overlay options, so a helper
//     in a private mount namespace mounts an overlay of the host's root
//     (and of every other writable mount) whose upper dirs sit on one
//     tmpfs of layerBytes (256 MiB, layerInodes inodes), nodev and nosuid,
//     and bwrap binds it as /. Writes seem to succeed and vanish with the
//     namespace; the host's files stay readable. Unix sockets of the host
//     are unreachable through an overlay; the shim's socket dir is bound
//     in read-only (connect needs no write access), and the shim is bound
//     over the host's pct, qm, ... ;
//   - no user namespace: bwrap's maps a single uid, and a hook runs as
//     root on files of many owners. The capabilities are bounded instead:
//     bwrap keeps hookCaps (Docker's default set without MKNOD, SETPCAP,
//     SETFCAP) and the last stage inside drops everything else from the
//     bounding set, since bwrap as root leaves it full;
//   - /proc is fresh and read-only as a whole (bwrap's cover of /proc/sys
//     is skipped when root runs it);
//   - the seccomp filter (isolate_seccomp_linux.go, assembled with
//     github.com/elastic/go-seccomp-bpf, pure Go, passed with --seccomp):
//     mount, setns, unshare, ptrace, kexec, modules, bpf, perf, keyrings,
//     userfaultfd, io_uring, clone with namespace flags, TIOCSTI, ... fail
//     with EPERM, clone3 with ENOSYS, other ABIs with ENOSYS.
//
// The hook has its own PID (so every process it started, setsid and nohup
// daemons included, ends with it), IPC, UTS, cgroup and network namespace
// (only its own loopback), a minimal /dev (null, zero, full, random,
// urandom, tty, pts, a /dev/shm of shmBytes). Where the sandbox cannot be
// set up (not root, no bwrap, no overlayfs, bwrap failing) the hook is
// listed, not run, and the plan says why and what to do.
package hooks
