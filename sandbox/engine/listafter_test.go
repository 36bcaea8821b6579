package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

// The callers that arrive while a list runs share the next one, which
// starts after each of them arrived: a caller never gets a list that began
// before it asked (its own create would be missing from it).
func TestListBatcherSharesListsThatStartAfterTheCaller(t *testing.T) {
	var b listBatcher
	var started atomic.Int64
	release := make(chan struct{})
	firstStarted := make(chan struct{})
	list := func(context.Context) ([]container.Summary, error) {
		n := started.Add(1)
		if n == 1 {
			close(firstStarted)
			<-release
		}
		return []container.Summary{{ID: string(rune('0' + n))}}, nil
	}
	got := make([]string, 11)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctrs, err := b.get(context.Background(), list)
		assert.Check(t, err)
		got[0] = ctrs[0].ID
	}()
	<-firstStarted // the first list runs: the next ten must not get it
	for i := 1; i <= 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctrs, err := b.get(context.Background(), list)
			assert.Check(t, err)
			got[i] = ctrs[0].ID
		}()
	}
	poll.WaitOn(t, func(poll.LogT) poll.Result { // all ten wait for the next list
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.next == nil || b.next.callers < 10 {
			return poll.Continue("not all joined")
		}
		return poll.Success()
	}, poll.WithDelay(time.Millisecond))
	close(release)
	wg.Wait()
	assert.Check(t, is.Equal(got[0], "1"))
	for i := 1; i <= 10; i++ {
		assert.Check(t, got[i] != "1", "caller %d got a list that started before it asked", i)
	}
	assert.Check(t, is.Equal(started.Load(), int64(2)), "one list for the ten that waited together")
}

// A caller whose context ends stops waiting; the others still get theirs.
func TestListBatcherCallerCanceled(t *testing.T) {
	var b listBatcher
	release := make(chan struct{})
	list := func(context.Context) ([]container.Summary, error) { <-release; return nil, nil }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.get(ctx, list)
	assert.Check(t, is.ErrorIs(err, context.Canceled))
	done := make(chan error)
	go func() { _, err := b.get(context.Background(), list); done <- err }()
	close(release)
	assert.Check(t, <-done)
}
