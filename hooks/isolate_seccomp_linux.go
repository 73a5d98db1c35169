package hooks

import (
	"bytes"
	"encoding/binary"
	"fmt"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls fail with EPERM in the dry-run sandbox: what reaches past
// its namespaces or the kernel itself. Most also need a capability the
// hook no longer has; the filter holds even if one is left.
var deniedSyscalls = []string{
	// mounts, old and new API, and changing the root
	"mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
	"move_mount", "open_tree", "mount_setattr",
	// namespaces
	"setns", "unshare",
	// other processes and the kernel's memory
	"ptrace", "process_vm_writev", "process_vm_readv", "kcmp", "pidfd_getfd",
	// the kernel: modules, kexec, BPF, perf, reboot, swap, clocks
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"bpf", "perf_event_open", "reboot", "swapon", "swapoff",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"iopl", "ioperm", "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "vhangup",
	"nfsservctl", "syslog",
	// file handles reach files outside the mount namespace
	"open_by_handle_at", "name_to_handle_at",
	// kernel keyrings are not namespaced
	"keyctl", "add_key", "request_key",
	// userfaultfd and io_uring (its operations pass by seccomp)
	"userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
	"sethostname", "setdomainname",
}

// nsCloneFlags are the clone flags that make a new namespace.
const nsCloneFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// seccompPolicy is the dry-run filter: everything is allowed but
// deniedSyscalls, clone with a namespace flag, and the ioctls that push
// input into a terminal. clone3 fails with ENOSYS (its flags sit in
// memory, out of the filter's reach): the C library then uses clone.
func seccompPolicy(info *arch.Info) seccomp.Policy {
	var names []string
	for _, n := range deniedSyscalls {
		if _, ok := info.SyscallNames[n]; ok { // each arch has its own set
			names = append(names, n)
		}
	}
	return seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionErrno, Names: names},
			{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: []string{"clone3"}},
			{Action: seccomp.ActionErrno, NamesWithCondtions: []seccomp.NameWithConditions{
				{Name: "clone", Conditions: seccomp.ArgumentConditions{
					{Argument: 0, Operation: seccomp.BitsSet, Value: nsCloneFlags},
				}},
				{Name: "ioctl", Conditions: seccomp.ArgumentConditions{
					{Argument: 1, Operation: seccomp.Equal, Value: unix.TIOCSTI},
				}},
				{Name: "ioctl", Conditions: seccomp.ArgumentConditions{
					{Argument: 1, Operation: seccomp.Equal, Value: unix.TIOCLINUX},
				}},
			}},
		},
	}
}

// seccompProgram is the filter as bwrap --seccomp reads it: struct
// sock_filter entries in the machine's byte order. A system call of
// another ABI (i386's int 0x80 on x86_64) fails with ENOSYS: the
// library's program would allow it.
func seccompProgram() ([]byte, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	policy := seccompPolicy(info)
	insts, err := policy.Assemble()
	if err != nil {
		return nil, err
	}
	const archOffset = 4 // seccomp_data.arch
	guard := []bpf.Instruction{
		bpf.LoadAbsolute{Off: archOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
	}
	raw, err := bpf.Assemble(append(guard, insts...))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, r := range raw {
		if err := binary.Write(&buf, binary.NativeEndian, r); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// seccompPipe writes the filter into a pipe and returns its read end, an
// fd that stays open across exec (for bwrap --seccomp).
func seccompPipe() (int, error) {
	prog, err := seccompProgram()
	if err != nil {
		return -1, err
	}
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		return -1, err
	}
	defer unix.Close(fds[1])
	if len(prog) > 64<<10 { // a pipe holds 64 KiB: the write must not block
		unix.Close(fds[0])
		return -1, fmt.Errorf("filter of %d bytes is too large", len(prog))
	}
	if _, err := unix.Write(fds[1], prog); err != nil {
		unix.Close(fds[0])
		return -1, err
	}
	return fds[0], nil
}
