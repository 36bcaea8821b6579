package swarm

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/stream"
)

// Events streams what happens to the workspace services, as the manager
// tells it (created, started and stopped — a scale to one or to none —,
// updated, removed: reason user), and to their tasks' containers, as each
// node's own engine tells it (reason swarm for what Swarm did to a task:
// placed, moved, restarted; engine for a process that ended by itself).
// A node whose engine cannot be reached is left out, not fatal.
func (s *Swarm) Events(ctx context.Context, opts sandbox.EventOptions) (<-chan sandbox.Event, <-chan error) {
	subdirs, err := s.subdirsByName(ctx)
	if err != nil {
		return stream.Failed[sandbox.Event](err)
	}
	mg := stream.New[sandbox.Event](ctx, opts.Until != "")
	var created sync.Map // service ID: when its create was told
	msgs, errs := s.raw.Events(mg.Context(), events.ListOptions{Since: opts.Since, Until: opts.Until,
		Filters: filters.NewArgs(filters.Arg("type", string(events.ServiceEventType)))})
	stream.Main(mg, msgs, errs, func(msg events.Message) (sandbox.Event, bool) {
		return s.serviceEvent(mg.Context(), msg, subdirs, &created)
	})
	s.nodeEvents(mg, opts)
	return mg.Channels()
}

// nodeEvents streams the events of the task containers of every node
// whose engine can be reached.
func (s *Swarm) nodeEvents(mg *stream.Merge[sandbox.Event], opts sandbox.EventOptions) {
	ctx := mg.Context()
	nodes, err := s.nodes(ctx)
	if err != nil {
		return
	}
	for _, n := range nodes {
		m, err := s.nodeManager(ctx, n)
		if err != nil {
			continue
		}
		evs, _ := m.Events(ctx, opts)
		mg.Go(func() {
			for ev := range evs {
				ev.Node = nodeName(n)
				if !mg.Send(ev) {
					return
				}
			}
		})
	}
}

// subdirsByName are the subdirs of the workspaces, by service name (a
// service event names only its service): those of the services there are,
// and those of the claims (which a removed service leaves: a replay
// tells of services gone since).
func (s *Swarm) subdirsByName(ctx context.Context) (*sync.Map, error) {
	var m sync.Map
	return &m, s.learnSubdirs(ctx, &m)
}

func (s *Swarm) learnSubdirs(ctx context.Context, m *sync.Map) error {
	svcs, err := s.client.ServiceList(ctx, swarmtypes.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", sandbox.LabelSubdir))})
	if err != nil {
		return err
	}
	for _, svc := range svcs {
		m.Store(svc.Spec.Name, svc.Spec.Labels[sandbox.LabelSubdir])
	}
	cfgs, err := s.client.ConfigList(ctx, swarmtypes.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("label", labelClaim))})
	if err != nil {
		return err
	}
	for _, c := range cfgs {
		if subdir := c.Spec.Labels[sandbox.LabelSubdir]; subdir != "" {
			m.LoadOrStore(serviceName(subdir), subdir)
		}
	}
	return nil
}

// serviceEvent is the workspace event of a service event, if it is one.
func (s *Swarm) serviceEvent(ctx context.Context, msg events.Message, subdirs, created *sync.Map) (sandbox.Event, bool) {
	attrs := msg.Actor.Attributes
	ev := sandbox.Event{Time: time.Unix(0, msg.TimeNano).UTC(), Name: attrs["name"], ID: msg.Actor.ID, Unit: "service", Reason: sandbox.ReasonUser}
	if !strings.HasPrefix(ev.Name, sandbox.NamePrefix) {
		return ev, false
	}
	v, ok := subdirs.Load(ev.Name)
	if !ok && s.learnSubdirs(ctx, subdirs) == nil { // made since
		v, ok = subdirs.Load(ev.Name)
	}
	if ok {
		ev.Subdir = v.(string)
	}
	if ev.Subdir == "" {
		return ev, false
	}
	ev.Kind = serviceEventKind(msg.Action, attrs)
	if ev.Kind == sandbox.EventCreated {
		created.Store(ev.ID, ev.Time)
	}
	if ev.Kind == sandbox.EventUpdated && len(attrs) == 1 {
		// Swarm's own update of a new service (its endpoint allocated),
		// which changes nothing of its spec, comes right after its create.
		if t, ok := created.LoadAndDelete(ev.ID); ok && ev.Time.Sub(t.(time.Time)) < allocationWindow {
			return ev, false
		}
	}
	return ev, ev.Kind != ""
}

// allocationWindow is how soon after a service's create Swarm's own
// update of it (the allocator's) comes.
const allocationWindow = 5 * time.Second

// serviceEventKind is the kind of a service event: an update that scales
// a workspace to none stops it, one that scales it from none starts it.
func serviceEventKind(action events.Action, attrs map[string]string) string {
	switch action {
	case events.ActionCreate:
		return sandbox.EventCreated
	case events.ActionRemove:
		return sandbox.EventRemoved
	case events.ActionUpdate:
		before, errB := strconv.Atoi(attrs["replicas.old"])
		after, errA := strconv.Atoi(attrs["replicas.new"])
		switch {
		case errB == nil && errA == nil && before > 0 && after == 0:
			return sandbox.EventStopped
		case errB == nil && errA == nil && before == 0 && after > 0:
			return sandbox.EventStarted
		}
		return sandbox.EventUpdated
	}
	return ""
}
