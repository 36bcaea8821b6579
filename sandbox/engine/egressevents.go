package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress/proxy"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/stream"
)

// egressEvents follows the logs of the egress proxies — those running now,
// and those that start while the stream lasts — and sends what they deny.
// A proxy that cannot be followed is left out: the workspaces' own events
// go on.
func (m *Manager) egressEvents(mg *stream.Merge[sandbox.Event], opts sandbox.EventOptions) {
	ctx := mg.Context()
	proxies := filters.NewArgs(filters.Arg("label", sandbox.LabelEgress+"=proxy"))
	var mu sync.Mutex
	following := map[string]bool{}
	follow := func(id, subdir, since string) {
		mu.Lock()
		defer mu.Unlock()
		if following[id] {
			return
		}
		following[id] = true
		mg.Go(func() {
			defer func() { mu.Lock(); delete(following, id); mu.Unlock() }()
			m.followProxy(ctx, id, subdir, since, opts.Until, mg.Send)
		})
	}
	starts, startErrs := m.client.Events(ctx, events.ListOptions{Until: opts.Until, Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)), filters.Arg("event", string(events.ActionStart)),
		filters.Arg("label", sandbox.LabelEgress+"=proxy"))})
	// Stopped ones too: their logs hold what they denied before.
	running, err := m.client.ContainerList(ctx, container.ListOptions{All: true, Filters: proxies})
	if err == nil {
		for _, c := range running {
			follow(c.ID, c.Labels[sandbox.LabelEgressOf], opts.Since)
		}
	}
	mg.Go(func() {
		for {
			select {
			case err := <-startErrs:
				_ = err // ended (until reached), or failed: the others go on
				return
			case msg := <-starts:
				follow(msg.Actor.ID, msg.Actor.Attributes[sandbox.LabelEgressOf], fmt.Sprint(msg.TimeNano/int64(time.Second)))
			case <-ctx.Done():
				return
			}
		}
	})
}

// followProxy sends the denials of one proxy's log, from since.
func (m *Manager) followProxy(ctx context.Context, id, subdir, since, until string, send func(sandbox.Event) bool) {
	if subdir == "" {
		return
	}
	rc, err := m.client.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, Follow: until == "", Since: since, Until: until})
	if err != nil {
		return
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, io.Discard, rc)
		_ = pw.CloseWithError(err)
	}()
	defer func() { _ = pr.Close() }()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var e proxy.Entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if ev, ok := deniedEvent(e, subdir); ok && !send(ev) {
			return
		}
	}
}

// deniedEvent is the event of a proxy's decision that denied, if it is
// one.
func deniedEvent(e proxy.Entry, subdir string) (sandbox.Event, bool) {
	if e.Decision != "deny" {
		return sandbox.Event{}, false
	}
	what := e.Host
	if e.Port != 0 {
		what = fmt.Sprintf("%s:%d", e.Host, e.Port)
	}
	detail := e.Kind + " " + what
	switch {
	case e.Rule != "":
		detail += " rule=" + e.Rule
	case e.Reason != "":
		detail += " (" + e.Reason + ")"
	}
	return sandbox.Event{
		Time: e.Time.UTC(), Kind: sandbox.EventEgressDenied, Reason: sandbox.ReasonPolicy, Subdir: subdir,
		Name: sandbox.ContainerName(subdir), Unit: "container", Detail: detail,
	}, true
}
