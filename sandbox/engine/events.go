package engine

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/stream"
)

// Events streams the events of the engine's workspace containers, as the
// engine tells them (so those of plain docker commands too), each with its
// reason, and the destinations their egress proxies deny; the stream ends
// with an error (nil once Until is reached). The channels are as the
// docker client's: one event channel, one error.
func (m *Manager) Events(ctx context.Context, opts sandbox.EventOptions) (<-chan sandbox.Event, <-chan error) {
	mg := stream.New[sandbox.Event](ctx, opts.Until != "")
	msgs, errs := m.client.Events(mg.Context(), events.ListOptions{
		Since: opts.Since, Until: opts.Until,
		Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", sandbox.LabelSubdir)),
	})
	var d eventDecoder
	stream.Main(mg, msgs, errs, d.decode)
	m.egressEvents(mg, opts)
	return mg.Channels()
}

// markerTTL is how long a reason said by a marker waits for the stop,
// pause or removal it is for (a stop waits for its timeout, 10 s by
// default, before the engine kills).
const markerTTL = 2 * time.Minute

// eventDecoder turns the engine's container events into workspace events:
// it drops those of temporary containers (gws_new_…, gws_old_…,
// gws_helper_…) and the engine's steps of one thing (kill, die and stop of
// one stop), and gives each its reason. It decides only from what it has
// seen of the stream.
type eventDecoder struct {
	marks    map[string]mark   // by container ID: a reason said for what comes next
	killed   map[string]bool   // by container ID: a kill was asked (a die next is a stop)
	stopped  map[string]bool   // by container ID: its stop is told (the engine's stop after it is not)
	firstRun map[string]string // by container ID: made, not yet started: the reason it was made for
	setAside map[string]bool   // by subdir: its container was set aside (a recreate)
}

type mark struct {
	reason string
	at     time.Time
}

func (d *eventDecoder) init() {
	if d.marks == nil {
		d.marks, d.killed, d.stopped = map[string]mark{}, map[string]bool{}, map[string]bool{}
		d.firstRun, d.setAside = map[string]string{}, map[string]bool{}
	}
}

// decode is the workspace event of msg, if it is one.
func (d *eventDecoder) decode(msg events.Message) (sandbox.Event, bool) {
	d.init()
	attrs := msg.Actor.Attributes
	ev := sandbox.Event{
		Time: time.Unix(0, msg.TimeNano).UTC(), Subdir: attrs[sandbox.LabelSubdir], Name: attrs["name"], ID: msg.Actor.ID, Unit: "container",
	}
	if ev.Subdir == "" || msg.Type != events.ContainerEventType {
		return ev, false
	}
	action := string(msg.Action)
	if kind, detail, ok := sandbox.ParseMarker(action); ok {
		return d.marker(ev, kind, detail)
	}
	if strings.HasPrefix(action, "exec_") || strings.HasPrefix(action, "health_status") {
		return ev, false
	}
	if isTempName(ev.Name) && msg.Action != events.ActionRename {
		switch msg.Action {
		case events.ActionCreate:
			d.firstRun[ev.ID] = madeFor(attrs)
		case events.ActionDestroy:
			d.forget(ev.ID)
		}
		return ev, false
	}
	return d.lifecycle(ev, msg.Action, attrs)
}

// marker takes a reason for what comes next, or tells a drift.
func (d *eventDecoder) marker(ev sandbox.Event, kind, detail string) (sandbox.Event, bool) {
	if kind == sandbox.EventDrift {
		ev.Kind, ev.Reason, ev.Detail = sandbox.EventDrift, sandbox.ReasonUser, detail
		return ev, true
	}
	if kind == sandbox.MarkReason {
		d.marks[ev.ID] = mark{reason: detail, at: ev.Time}
	}
	return ev, false
}

// lifecycle is the event of an action on a workspace's container.
func (d *eventDecoder) lifecycle(ev sandbox.Event, action events.Action, attrs map[string]string) (sandbox.Event, bool) {
	switch action {
	case events.ActionCreate:
		d.firstRun[ev.ID] = madeFor(attrs)
		ev.Kind, ev.Reason = sandbox.EventCreated, d.firstRun[ev.ID]
	case events.ActionRename:
		return d.rename(ev, attrs)
	case events.ActionStart:
		ev.Kind, ev.Reason = sandbox.EventStarted, d.startReason(ev.ID, attrs)
		delete(d.killed, ev.ID)
		delete(d.stopped, ev.ID)
	case events.ActionKill:
		d.killed[ev.ID] = true
		return ev, false
	case events.ActionOOM:
		ev.Kind, ev.Reason = sandbox.EventOOM, sandbox.ReasonEngine
	case events.ActionDie:
		return d.die(ev, attrs)
	case events.ActionStop:
		// The engine tells a stop, and the death of the main process it
		// made, in either order: the first tells it.
		if d.stopped[ev.ID] {
			delete(d.stopped, ev.ID)
			return ev, false
		}
		d.stopped[ev.ID] = true
		ev.Kind, ev.Reason = sandbox.EventStopped, d.reason(ev, attrs)
	case events.ActionPause, events.ActionUnPause, events.ActionUpdate, events.ActionDestroy:
		ev.Kind = map[events.Action]string{
			events.ActionPause: sandbox.EventPaused, events.ActionUnPause: sandbox.EventUnpaused,
			events.ActionUpdate: sandbox.EventUpdated, events.ActionDestroy: sandbox.EventRemoved,
		}[action]
		ev.Reason = d.reason(ev, attrs)
		if action == events.ActionDestroy {
			d.forget(ev.ID)
		}
	default:
		return ev, false
	}
	return ev, true
}

// rename tells a container that took the workspace's name (created, or
// recreated if the one before was set aside), and keeps quiet of one set
// aside.
func (d *eventDecoder) rename(ev sandbox.Event, attrs map[string]string) (sandbox.Event, bool) {
	switch {
	case strings.HasPrefix(ev.Name, oldPrefix):
		d.setAside[ev.Subdir] = true
		return ev, false
	case isTempName(ev.Name) || !isTempName(strings.TrimPrefix(attrs["oldName"], "/")):
		return ev, false
	}
	ev.Kind, ev.Reason = sandbox.EventCreated, d.firstRun[ev.ID]
	if ev.Reason == "" {
		ev.Reason = madeFor(attrs)
	}
	if d.setAside[ev.Subdir] {
		ev.Kind = sandbox.EventRecreated
		delete(d.setAside, ev.Subdir)
	}
	return ev, true
}

// die tells a stop (a kill was asked: the engine's stop, docker kill, rm
// -f) or a death (the main process ended by itself: reason engine).
func (d *eventDecoder) die(ev sandbox.Event, attrs map[string]string) (sandbox.Event, bool) {
	if code, err := strconv.Atoi(attrs["exitCode"]); err == nil {
		ev.ExitCode = &code
	}
	if d.killed[ev.ID] {
		delete(d.killed, ev.ID)
		if d.stopped[ev.ID] { // the engine's stop came first
			delete(d.stopped, ev.ID)
			return ev, false
		}
		d.stopped[ev.ID] = true
		ev.Kind, ev.Reason = sandbox.EventStopped, d.reason(ev, attrs)
		return ev, true
	}
	ev.Kind, ev.Reason = sandbox.EventDied, sandbox.ReasonEngine
	return ev, true
}

// startReason: a first start is for what the container was made for
// (the temporary container it was made as tells it); else as reason says.
func (d *eventDecoder) startReason(id string, attrs map[string]string) string {
	if r, ok := d.firstRun[id]; ok {
		delete(d.firstRun, id)
		return r
	}
	return madeFor(attrs)
}

// reason is the reason said for a container's stop, pause or removal
// (and taken), else who acts on such a container: Swarm on a task's,
// Compose on one made for a project (it stops, starts and kills them
// itself), a user on the others.
func (d *eventDecoder) reason(ev sandbox.Event, attrs map[string]string) string {
	if m, ok := d.marks[ev.ID]; ok {
		delete(d.marks, ev.ID)
		if ev.Time.Sub(m.at) <= markerTTL {
			return m.reason
		}
	}
	return madeFor(attrs)
}

func (d *eventDecoder) forget(id string) {
	delete(d.marks, id)
	delete(d.killed, id)
	delete(d.stopped, id)
	delete(d.firstRun, id)
}

// labelSwarmTask is on the container of a Swarm task.
const labelSwarmTask = "com.docker.swarm.task.id"

// madeFor is what a container was made for, and so who acts on it: a task
// of Swarm's, a Compose project, or a user.
func madeFor(attrs map[string]string) string {
	switch {
	case attrs[labelSwarmTask] != "":
		return sandbox.ReasonSwarm
	case attrs[sandbox.LabelComposeProject] != "":
		return sandbox.ReasonCompose
	}
	return sandbox.ReasonUser
}

// markReason says, on the engine's event stream, the reason of what is
// about to happen to a running container (see sandbox.Marker): one call
// that runs nothing. Best effort: a container that is not running takes no
// exec, and its event says "user".
func (m *Manager) markReason(ctx context.Context, ctr container.InspectResponse, reason string) {
	if ctr.State != nil && ctr.State.Running && !ctr.State.Paused {
		_, _ = m.client.ContainerExecCreate(ctx, ctr.ID, sandbox.Marker(sandbox.MarkReason, reason))
	}
}
