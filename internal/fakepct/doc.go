// Package fakepct is the fake `pct` of the end-to-end tests, as a library
// (cmd/fake-pct is its main). It keeps a fake Proxmox host on disk, records
// every invocation and answers as pct does. Nothing it does reaches the
// real host: commands "run" inside a fake container by looking at files.
// This comment is the contract the end-to-end tests rely on.
//
// # Environment
//
//   - FAKE_PCT_STATE (required): the state directory; created if missing.
//     Unset: exit 2 with a message.
//   - FAKE_PCT_FAIL: injected failures, comma-separated "op:ctid" (e.g.
//     "create:910,exec:901"), "op:*" or "op". The call exits 255 with
//     "fake failure injected" and changes nothing (it is still in
//     calls.log). The ids of a call are
//     its leading numeric arguments: for `clone 900 902` either matches.
//     A rule may end in "=locked" ("CT is locked (backup)") or "=timeout"
//     (the config file lock's timeout), pct's transient lock errors, and
//     in "*N": only the first N matching calls fail ("set:901=locked*2").
//   - FAKE_PCT_DELAY: a Go duration slept at the start of every call.
//
// The fake never touches the machine, but phoenix does, on its side of
// pct: run it against the fake with PHOENIX_PVE_DIR=<state>/pve (raw lxc
// lines and firewall files, else /etc/pve) and PHOENIX_HOST_ROOT set to
// a temp dir (mount points' host directories, else made under /, e.g.
// /mnt/pve/...). The example hooks check what scripted answers give:
// copy cmd/phoenix/testdata/exec_rules.json into the state directory
// (README.md, "Try it against the fake pct").
//
// # State directory
//
//	calls.log             one line per invocation: its argv (without "pct")
//	                      as a JSON array, appended in one write (ReadCalls)
//	<ctid>.json           a container: config map, running, lock, snapshots (Load, Save)
//	rootfs/<ctid>/        the container's file system (push writes here, cat reads here)
//	pve/lxc/<ctid>.conf   Proxmox-style config: key lines rewritten on every change,
//	                      raw lxc.* lines kept; point the pct backend's PVEDir at
//	                      <state>/pve and AppendRaw lands here and shows in `pct config`
//	snaprootfs/<ctid>/<snap>/  rootfs copies taken by snapshot (used by rollback and clone --snapname)
//	exec_rules.json       optional scripted exec answers (WriteExecRules)
//	.lock                 flock taken around every command's read-modify-write
//
// # Answers
//
// Success exits 0. Refusals exit 255 with pct's message on stderr; the node
// is called "fake". Options are checked per command ("Unknown option: x",
// exit 255); `--key=value` and bare booleans (`--full`) are accepted.
//
//   - create CTID TEMPLATE [--opts]: "unable to create CT 901 - CT 901
//     already exists on node 'fake'" when it exists. Options become config
//     keys, stored the Proxmox way: ostemplate=TEMPLATE is kept; netN has
//     name first, the rest sorted, type=veth and a stable hwaddr
//     (BC:24:11:..) added when missing; features entries are sorted;
//     rootfs "STORAGE:SIZE" becomes "STORAGE:vm-CTID-disk-0,size=SIZEG" (mpN:
//     disk-N+1); unprivileged defaults to 1 and is absent when 0; without
//     --rootfs, "<storage|local>:vm-CTID-disk-0,size=4G". --start 1 starts
//     it. Create-only options (storage, start, password, pool, ...) are not
//     stored.
//   - clone SRC NEW [--snapname S --hostname H --full --description D]:
//     SRC must exist and not be locked; NEW must not exist (same message as
//     create); --snapname must name a snapshot ("snapshot 'S' does not
//     exist"), whose config and rootfs are then copied, else the current
//     ones. The template key is dropped, volumes and hwaddrs are renamed
//     for NEW, raw lxc.* lines are copied. The clone is stopped. As in
//     Proxmox, the source is locked ("lock: disk") while the clone copies
//     (for FAKE_PCT_DELAY, which a clone spends inside that window): a
//     second clone of it meanwhile gets "CT is locked (disk)".
//   - set CTID [--key value ...] [--delete a,b]: same normalisation as
//     create; locked: "CT is locked (<lock>)".
//   - start: "CT 901 already running"; locked refused. stop, shutdown
//     [--timeout N --forceStop]: "CT 901 not running".
//   - status: "status: running" or "status: stopped".
//   - config: sorted "key: value" lines (lock included), then the raw lxc.*
//     lines of the .conf.
//   - list: header "VMID       Status     Lock         Name" and rows, as
//     printf("%-10s %-10s %-12s %-20s\n"); nothing at all when empty.
//   - snapshot CTID NAME [--description]: name must match
//     [a-zA-Z][a-zA-Z0-9_-]+ (max 40); "snapshot name 'x' already used";
//     locked refused. listsnapshot: a tree, one line per snapshot
//     ("`-> NAME  <YYYY-mm-dd HH:MM:SS>  <description|no-description>"),
//     children indented two spaces under their parent, ending with
//     "`-> current  You are here!". delsnapshot, rollback [--start]
//     ("snapshot 'x' does not exist"); rollback restores config and rootfs
//     and leaves the container stopped unless --start.
//   - resize CTID DISK SIZE: SIZE absolute (64G) or relative (+2G); sets
//     size= of the disk; "unable to shrink disk size" for a smaller one.
//   - destroy: refuses a running one ("CT 901 is running - destroy
//     failed"), a locked one, and a template whose linked clones (clones
//     of it made without --full) still exist ("base volume
//     'local:base-900-disk-0' is still in use by linked cloned", as
//     Proxmox's storage layer says); removes every trace.
//   - template: sets template: 1 (refused when running, with snapshots, or
//     already a template). unlock: clears the lock.
//   - push CTID FILE DEST [--perms 0644 --user --group]: copies the host
//     FILE to rootfs/<ctid>/DEST; the container must run ("CT 901 not
//     running") and DEST's directory must exist, as pct makes none
//     ("failed to open DEST for writing: No such file or directory"). A new
//     rootfs starts with the directories of Skeleton (/etc, /etc/systemd/system,
//     /root, /tmp, /opt, /usr/local/bin, ...).
//   - every command on a missing container: "Configuration file
//     'nodes/fake/lxc/901.conf' does not exist".
//   - exec CTID [--keep-env 0|1] -- CMD...: without "--" exit 255
//     "Unknown option: ..."; the container must run ("container '901' not
//     running!"). Then CMD is answered from inside the fake container.
//
// # Exec inside a fake container
//
// A leading `env K=V...` is stripped first. Then, in order:
//
//  1. exec_rules.json: a JSON list of {"match": regexp searched in the
//     space-joined CMD, "ctid": 0|N, "stdout", "stderr", "code", "sleep":
//     "2s", "gate": FIFO, "after"}; the first match answers (sleep is
//     waited without the state lock; with a gate, the command prints
//     stdout and stderr, waits for the FIFO to be opened for writing and
//     closed, then prints after: a test sees lines stream before exit).
//  2. true → 0; false → 1.
//  3. cat FILE... → contents of rootfs/<ctid>/FILE, or exit 1 with
//     "cat: FILE: No such file or directory"; cat without FILE copies stdin.
//  4. test -e|-f|-d|-s FILE → 0 or 1 on rootfs/<ctid>/FILE; mkdir [-p]
//     DIR... makes the directories (without -p: exit 1 "mkdir: cannot
//     create directory ..." when the parent is missing or DIR exists).
//  5. nvidia-smi: 127 "nvidia-smi: command not found" unless
//     rootfs/.fake/nvidia-version exists. With --query-gpu=F1,F2,... it
//     prints one line per GPU passed through (devN or lxc.mount.entry naming
//     /dev/nvidiaN; at least one), the fields joined by ", ": index (0..),
//     name ("NVIDIA Fake GPU"), driver_version (the file's content, trimmed),
//     anything else "[N/A]". So --query-gpu=driver_version prints the
//     version once per GPU.
//  6. nvidia-ctk: 127 unless rootfs/.fake/nvidia-ctk exists.
//  7. docker: 127 unless rootfs/usr/bin/docker exists; `docker info` → 0;
//     `docker inspect [-f|--format T] NAME...` → 0 iff every
//     rootfs/.fake/docker-NAME exists, else 1 "Error: No such object: NAME";
//     T's {{.State.Running}} is "true", {{.State.Status}} "running",
//     {{.Name}} "/NAME"; without T a small JSON array;
//     `docker run ... --name NAME ...` creates rootfs/.fake/docker-NAME.
//  8. sh|bash -c SCRIPT whose first line is a tag simulates an install:
//     "# phoenix:install-docker" creates rootfs/usr/bin/docker;
//     "# phoenix:install-nvidia <version>" writes <version> to
//     rootfs/.fake/nvidia-version; "# phoenix:install-nvidia-toolkit"
//     creates rootfs/.fake/nvidia-ctk.
//  9. anything else exits 0 with no output.
//
// # For tests
//
// Load and Save read and arrange a container's state (Save gives a new
// container the Skeleton rootfs); ReadCalls returns calls.log; Mutating
// tells the reads (status, config, list, listsnapshot) from the rest, exec
// included; WriteExecRules writes exec_rules.json; RootfsPath, ConfPath and
// ContainerPath locate the files.
package fakepct
