package stream

import (
	"context"
	"io"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// run merges a main stream of msgs (ending with end) and one side stream
// of side; it returns what the merge gave and its error.
func run(t *testing.T, bounded bool, msgs []int, end error, side []int, sideWaits bool) ([]int, error) {
	t.Helper()
	m := New[int](context.Background(), bounded)
	mc, ec := make(chan int), make(chan error, 1)
	go func() {
		for _, v := range msgs {
			mc <- v
		}
		ec <- end
	}()
	Main(m, mc, ec, func(v int) (int, bool) { return v, v >= 0 })
	m.Go(func() {
		for _, v := range side {
			if !m.Send(v) {
				return
			}
		}
		if sideWaits { // a follower without end: until the merge ends
			<-m.Context().Done()
		}
	})
	out, errc := m.Channels()
	var got []int
	done := time.After(10 * time.Second)
	for {
		select {
		case v, ok := <-out:
			if !ok {
				return got, <-errc
			}
			got = append(got, v)
		case <-done:
			t.Fatal("the merge did not end")
		}
	}
}

func TestMergeEnds(t *testing.T) {
	// Unbounded: the main stream's end ends the follower that would wait.
	got, err := run(t, false, []int{1, -1, 2}, io.EOF, nil, true)
	assert.NilError(t, err) // io.EOF: the until reached
	assert.Check(t, is.DeepEqual(got, []int{1, 2}))

	// Bounded: everything a side stream had is given, after the main's end.
	got, err = run(t, true, []int{1}, io.EOF, []int{7, 8, 9}, false)
	assert.NilError(t, err)
	assert.Check(t, is.Len(got, 4))

	// A failure of the main stream is the merge's.
	_, err = run(t, false, nil, context.DeadlineExceeded, nil, true)
	assert.Check(t, is.ErrorIs(err, context.DeadlineExceeded))

	out, errc := Failed[int](io.ErrUnexpectedEOF)
	_, open := <-out
	assert.Check(t, !open)
	assert.Check(t, is.ErrorIs(<-errc, io.ErrUnexpectedEOF))
}
