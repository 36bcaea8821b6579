package sandbox

import (
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// The kinds of workspace events.
const (
	EventCreated   = "created"   // its container (or service) was made
	EventRecreated = "recreated" // made again in place of the one before (ensure --recreate)
	EventStarted   = "started"
	EventStopped   = "stopped"  // asked to stop (stop, the reaper, docker stop, rm -f)
	EventDied      = "died"     // its main process ended by itself (reason engine, with ExitCode)
	EventOOM       = "oom"      // the kernel killed a process of it for memory
	EventPaused    = "paused"   // its processes frozen (the reaper's --action pause, docker pause)
	EventUnpaused  = "unpaused" // thawed (exec, cp, ensure wake it; docker unpause)
	EventUpdated   = "updated"  // its limits changed live (update)
	EventRemoved   = "removed"  // its container (or service) removed; its data stays
	EventDrift     = "drift"    // ensure found it differs from the configuration (Detail: what)
	// EventEgressDenied: its egress proxy refused a destination (Detail:
	// what, and the rule or why), reason ReasonPolicy.
	EventEgressDenied = "egress-denied"
)

// The reasons of workspace events: who or what made it happen.
const (
	ReasonUser    = "user"    // a command: ours, or plain docker's
	ReasonReaper  = "reaper"  // the reaper, of an idle workspace
	ReasonCompose = "compose" // Docker Compose (a workspace of a project, through the provider)
	ReasonSwarm   = "swarm"   // Swarm, of a task it placed, moved or restarted
	ReasonEngine  = "engine"  // the engine: a process that exited by itself, or the kernel (OOM)
	ReasonPolicy  = "policy"  // the workspace's egress policy (its mode and rules)
)

// Event is something that happened to a workspace.
type Event struct {
	Time time.Time
	Kind string
	// Reason is who or what made it happen (Reason…).
	Reason string
	Subdir string
	// Name and ID are its container's (Unit "container") or service's
	// (Unit "service"); Node is the node of a task's container.
	Name string
	ID   string
	Unit string
	Node string `json:",omitempty"`
	// ExitCode is the exit code of its main process (stopped, died).
	ExitCode *int `json:",omitempty"`
	// Detail says more: what drifted, what an update changed, a signal.
	Detail string `json:",omitempty"`
}

// EventOptions say which events Events streams: those since Since and
// until Until (as `docker events` takes them: RFC 3339, a Unix time, or a
// duration before now like "10m"; empty Since: from now on, empty Until:
// without end).
type EventOptions struct {
	Since, Until string
}

// markerPrefix starts the command of an exec that is made, never started,
// to say a reason on the engine's own event stream: the engine tells every
// exec it makes, with its command, to every watcher (`exec_create: …`).
// The reaper and Compose say so before they stop, pause or remove a
// running workspace; ensure says a drift it found.
var markerPrefix = []string{"true", "docker-workspace"}

// MarkReason is the kind of a marker that says a reason (Marker).
const MarkReason = "reason"

// Marker is the exec that says, on the engine's event stream, that the
// next stop, pause or removal of a container is for reason (Reason…), or,
// with kind EventDrift, what drifted (detail).
func Marker(kind, detail string) container.ExecOptions {
	return container.ExecOptions{Cmd: append(append([]string{}, markerPrefix...), kind+"="+detail)}
}

// ParseMarker reads the action of an exec_create event ("exec_create:
// true docker-workspace reason=reaper"); ok is false for another exec.
func ParseMarker(action string) (kind, detail string, ok bool) {
	rest, found := strings.CutPrefix(action, "exec_create: "+strings.Join(markerPrefix, " ")+" ")
	if !found {
		return "", "", false
	}
	return strings.Cut(rest, "=")
}
