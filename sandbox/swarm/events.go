package swarm

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	swarmtypes "github.com/docker/docker/api/types/swarm"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// Events streams what happens to the workspace services, as the manager
// tells it (created, started and stopped — a scale to one or to none —,
// updated, removed: reason user), and to their tasks' containers, as each
// node's own engine tells it (reason swarm for what Swarm did to a task:
// placed, moved, restarted; engine for a process that ended by itself).
// A node whose engine cannot be reached is left out, not fatal.
func (s *Swarm) Events(ctx context.Context, opts sandbox.EventOptions) (<-chan sandbox.Event, <-chan error) {
	out, errc := make(chan sandbox.Event), make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	subdirs, err := s.subdirsByName(ctx)
	if err != nil {
		cancel()
		close(out)
		errc <- err
		return out, errc
	}
	var wg sync.WaitGroup
	var created sync.Map // service ID: when its create was told
	send := func(ev sandbox.Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	msgs, errs := s.raw.Events(ctx, events.ListOptions{Since: opts.Since, Until: opts.Until,
		Filters: filters.NewArgs(filters.Arg("type", string(events.ServiceEventType)))})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case msg := <-msgs:
				if ev, ok := s.serviceEvent(ctx, msg, subdirs, &created); ok && !send(ev) {
					return
				}
			case err := <-errs:
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				cancel() // the nodes' streams end with the manager's
				return
			}
		}
	}()
	s.nodeEvents(ctx, opts, &wg, send)
	go func() {
		wg.Wait()
		cancel()
		close(out)
	}()
	return out, errc
}

// nodeEvents streams the events of the task containers of every node
// whose engine can be reached.
func (s *Swarm) nodeEvents(ctx context.Context, opts sandbox.EventOptions, wg *sync.WaitGroup, send func(sandbox.Event) bool) {
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range evs {
				ev.Node = nodeName(n)
				if !send(ev) {
					return
				}
			}
		}()
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
