package engine

import (
	"context"
	"sync"

	"github.com/docker/docker/api/types/container"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// listAfter is the list of claimants a new workspace checks itself
// against: one that started after the caller's own container was created
// (so that of two creates racing, at least one sees the other). The Ensure
// calls of one command (s) share such lists: a call joins the next list
// that has not started yet, and one list runs at a time, so that 60 creates
// at once make a few lists, not 60. Without s, a list of its own.
func (m *Manager) listAfter(ctx context.Context, s *sandbox.Shared) ([]container.Summary, error) {
	if s == nil {
		return m.listClaimants(ctx)
	}
	v, _ := s.Do("claimants", func() (any, error) { return &listBatcher{}, nil })
	return v.(*listBatcher).get(ctx, func(ctx context.Context) ([]container.Summary, error) {
		return m.listClaimants(ctx)
	})
}

// listBatcher runs lists one at a time; the callers that arrive while one
// runs share the next.
type listBatcher struct {
	mu      sync.Mutex
	next    *pendingList // not started yet: whoever arrives joins it
	running sync.Mutex   // held by the list that runs
}

type pendingList struct {
	done    chan struct{}
	callers int // that joined it
	ctrs    []container.Summary
	err     error
}

func (b *listBatcher) get(ctx context.Context, list func(context.Context) ([]container.Summary, error)) ([]container.Summary, error) {
	b.mu.Lock()
	p := b.next
	if p == nil {
		p = &pendingList{done: make(chan struct{})}
		b.next = p
		// Not the caller's context: the others that join must not fail
		// with it (every call to the engine is bounded by the client).
		go b.run(context.WithoutCancel(ctx), p, list)
	}
	p.callers++
	b.mu.Unlock()
	select {
	case <-p.done:
		return p.ctrs, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *listBatcher) run(ctx context.Context, p *pendingList, list func(context.Context) ([]container.Summary, error)) {
	b.running.Lock()
	defer b.running.Unlock()
	b.mu.Lock()
	b.next = nil // from now on, a caller waits for the list after this one
	b.mu.Unlock()
	p.ctrs, p.err = list(ctx)
	close(p.done)
}
