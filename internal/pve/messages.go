package pve

import (
	"errors"
	"fmt"
	"regexp"
)

// pct's failures as typed errors. The fake pct prints the messages below;
// the pct backend turns what the real pct printed back into these errors
// with Classify, so callers branch with errors.Is / errors.As instead of
// matching English.
var (
	// ErrNotExist: the container does not exist on this node.
	ErrNotExist = errors.New("container does not exist")
	// ErrExists: create or clone onto an id that is taken.
	ErrExists = errors.New("container already exists")
	// ErrNotRunning: stop, shutdown, exec or push on a stopped container.
	ErrNotRunning = errors.New("container not running")
	// ErrRunning: start of a running container (destroy, template of one).
	ErrRunning = errors.New("container already running")
	// ErrLockTimeout: pct waited 10 s for the config file lock.
	ErrLockTimeout = errors.New("config file lock timeout")
	// ErrLinkedClones: destroy of a template whose linked clones still use
	// its base volume.
	ErrLinkedClones = errors.New("template has linked clones")
)

// ErrLocked is a `lock:` line refusing the operation ("CT is locked (disk)").
type ErrLocked struct{ Lock string }

func (e *ErrLocked) Error() string { return MsgLocked(e.Lock) }

// IsTransient reports whether err is a lock that goes away by itself: a
// config lock held by a task (clone, backup, snapshot) or the file lock's
// timeout. A bounded retry is worth it.
func IsTransient(err error) bool {
	var l *ErrLocked
	return errors.As(err, &l) || errors.Is(err, ErrLockTimeout)
}

// Node is the node name the fakes answer for.
const Node = "fake"

// The messages pct prints (stderr, exit 255).

func MsgNoConfig(node string, ctid int) string {
	return fmt.Sprintf("Configuration file 'nodes/%s/lxc/%d.conf' does not exist", node, ctid)
}

func MsgExists(node string, ctid int) string {
	return fmt.Sprintf("unable to create CT %d - CT %d already exists on node '%s'", ctid, ctid, node)
}

func MsgLocked(lock string) string { return fmt.Sprintf("CT is locked (%s)", lock) }

func MsgLockTimeout(ctid int) string {
	return fmt.Sprintf("can't lock file '/run/lock/lxc/pve-config-%d.lock' - got timeout", ctid)
}

func MsgNotRunning(ctid int) string     { return fmt.Sprintf("CT %d not running", ctid) }
func MsgAlreadyRunning(ctid int) string { return fmt.Sprintf("CT %d already running", ctid) }

// MsgExecNotRunning is exec's (lxc-attach's) wording of ErrNotRunning.
func MsgExecNotRunning(ctid int) string { return fmt.Sprintf("container '%d' not running!", ctid) }

func MsgRunningDestroy(ctid int) string {
	return fmt.Sprintf("CT %d is running - destroy failed", ctid)
}

// MsgStorageLinkedClone is pct clone's refusal of --storage for a linked
// clone (a template's clone without --full).
func MsgStorageLinkedClone() string { return "parameter 'storage' not allowed for linked clones" }

// MsgLinkedClones is what Proxmox's storage layer says when a template's
// base volume is still used by a linked clone (vdisk_free).
func MsgLinkedClones(volume string) string {
	return fmt.Sprintf("base volume '%s' is still in use by linked cloned", volume)
}

var (
	reLinked     = regexp.MustCompile(`base volume '[^']*' is still in use by linked clone`)
	reNoConfig   = regexp.MustCompile(`Configuration file '[^']*' does not exist`)
	reExists     = regexp.MustCompile(`CT [0-9]+ already exists on node`)
	reLocked     = regexp.MustCompile(`CT is locked \(([^)]*)\)`)
	reTimeout    = regexp.MustCompile(`can't lock file '[^']*' - got timeout`)
	reNotRunning = regexp.MustCompile(`CT [0-9]+ not running|container '[0-9]+' not running!`)
	reRunning    = regexp.MustCompile(`CT [0-9]+ already running|CT [0-9]+ is running - `)
)

// Classify is the typed error for what pct printed on stderr, nil when the
// message is none of pct's known refusals.
func Classify(stderr string) error {
	switch {
	case reNoConfig.MatchString(stderr):
		return ErrNotExist
	case reExists.MatchString(stderr):
		return ErrExists
	case reLocked.MatchString(stderr):
		return &ErrLocked{Lock: reLocked.FindStringSubmatch(stderr)[1]}
	case reTimeout.MatchString(stderr):
		return ErrLockTimeout
	case reNotRunning.MatchString(stderr):
		return ErrNotRunning
	case reRunning.MatchString(stderr):
		return ErrRunning
	case reLinked.MatchString(stderr):
		return ErrLinkedClones
	}
	return nil
}

// Refusal is one of pct's messages as an error that also matches its typed
// error (errors.Is(err, ErrNotRunning), errors.As(err, &*ErrLocked)): what
// the in-process fakes return where pct would print msg and exit 255.
type Refusal struct {
	Msg  string
	kind error
}

// Refuse is msg as a Refusal.
func Refuse(msg string) error { return &Refusal{Msg: msg, kind: Classify(msg)} }

func (r *Refusal) Error() string { return r.Msg }
func (r *Refusal) Unwrap() error { return r.kind }

// The refusals of snapshot, template and resize (their wording in
// pve-container).

func MsgNoSnapshot(name string) string { return fmt.Sprintf("snapshot '%s' does not exist", name) }

func MsgSnapshotExists(name string) string {
	return fmt.Sprintf("snapshot name '%s' already used", name)
}

func MsgBadSnapshotName(name string) string {
	return fmt.Sprintf("400 Parameter verification failed.\nsnapname: invalid format - invalid configuration ID '%s'", name)
}

func MsgTemplateStart(ctid int) string {
	return fmt.Sprintf("CT %d is a template - start failed", ctid)
}

func MsgAlreadyTemplate(ctid int) string { return fmt.Sprintf("CT %d is already a template", ctid) }

func MsgRunningTemplate(ctid int) string {
	return fmt.Sprintf("CT %d is running - cannot convert to template", ctid)
}

const (
	MsgSnapshotsTemplate = "you can't convert a CT to template if the CT has snapshots"
	MsgShrink            = "unable to shrink disk size"
	MsgBadSize           = "400 Parameter verification failed.\nsize: value does not match the regex pattern"
)

func MsgNoDisk(disk string) string {
	return fmt.Sprintf("400 Parameter verification failed.\ndisk: no such disk '%s'", disk)
}
