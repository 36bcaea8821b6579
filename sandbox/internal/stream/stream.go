// Package stream merges streams into one channel, as the orchestrators'
// Events give theirs: one main stream (the engine's or the manager's
// events), whose end is the merge's, and streams beside it (proxies' logs,
// nodes' engines), whose failures are not.
package stream

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Merge is one merged stream being made.
type Merge[T any] struct {
	ctx     context.Context
	cancel  context.CancelFunc
	bounded bool
	out     chan T
	errc    chan error
	wg      sync.WaitGroup
}

// New starts a merge. A bounded one (its streams end by themselves: an
// until was given) waits for every stream; otherwise the end of the main
// stream ends the others.
func New[T any](ctx context.Context, bounded bool) *Merge[T] {
	ctx, cancel := context.WithCancel(ctx)
	return &Merge[T]{ctx: ctx, cancel: cancel, bounded: bounded, out: make(chan T), errc: make(chan error, 1)}
}

// Context is the merge's: done when the caller's is, or when the merge
// ends.
func (m *Merge[T]) Context() context.Context { return m.ctx }

// Send passes v on; false when nobody takes it any more.
func (m *Merge[T]) Send(v T) bool {
	select {
	case m.out <- v:
		return true
	case <-m.ctx.Done():
		return false
	}
}

// Main reads the main stream, as the docker client gives one (a message
// channel, an error channel), passes on what decode keeps, and says its
// end as the merge's error (nil once it reached its until: io.EOF).
func Main[M, T any](m *Merge[T], msgs <-chan M, errs <-chan error, decode func(M) (T, bool)) {
	m.Go(func() {
		if !m.bounded {
			defer m.cancel() // the others end with it
		}
		for {
			select {
			case msg := <-msgs:
				if v, ok := decode(msg); ok && !m.Send(v) {
					m.errc <- m.ctx.Err()
					return
				}
			case err := <-errs:
				if errors.Is(err, io.EOF) {
					err = nil
				}
				m.errc <- err
				return
			}
		}
	})
}

// Go runs a stream beside the main one.
func (m *Merge[T]) Go(fn func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn()
	}()
}

// Channels are the merged stream and its error, closed once every stream
// ended.
func (m *Merge[T]) Channels() (<-chan T, <-chan error) {
	go func() {
		m.wg.Wait()
		m.cancel()
		close(m.out)
	}()
	return m.out, m.errc
}

// Failed is a stream that ended before it began.
func Failed[T any](err error) (<-chan T, <-chan error) {
	out, errc := make(chan T), make(chan error, 1)
	close(out)
	errc <- err
	return out, errc
}
