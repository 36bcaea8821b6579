// Package bounded bounds engine calls in time, and turns their failures to
// answer into the typed errors of package sandbox.
package bounded

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/enginemsg"
)

// Limits are how long calls may take: those that change something, and
// those that only read.
type Limits struct{ Read, Write time.Duration }

// NewLimits gives every call timeout (sandbox.DefaultTimeout when not
// positive): a read of a busy engine (a list during a storm) may take as
// long as a write, and is not called hung sooner.
func NewLimits(timeout time.Duration) Limits {
	if timeout <= 0 {
		timeout = sandbox.DefaultTimeout
	}
	return Limits{Read: timeout, Write: timeout}
}

// Do runs fn with a deadline of d. A deadline that passes is a
// *sandbox.TimeoutError naming op; an engine that cannot be reached a
// *sandbox.UnreachableError. With keep, an io.ReadCloser result keeps the
// deadline's context until it is closed (a stream).
func Do[T any](ctx context.Context, d time.Duration, op string, keep bool, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	handedOver := false
	defer func() {
		if !handedOver {
			cancel()
		}
	}()
	v, err := fn(cctx)
	if err != nil {
		return v, classify(ctx, cctx, op, d, err)
	}
	if rc, ok := any(v).(io.ReadCloser); ok && keep {
		handedOver = true
		return any(cancelOnClose{rc, cancel}).(T), nil
	}
	return v, nil
}

// Run is Do for a call that returns only an error.
func Run(ctx context.Context, d time.Duration, op string, fn func(context.Context) error) error {
	_, err := Do(ctx, d, op, false, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// classify turns the failure of a call made under cctx (derived from ctx
// with a deadline d) into a typed error.
func classify(ctx, cctx context.Context, op string, d time.Duration, err error) error {
	if ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return &sandbox.TimeoutError{Op: op, After: d}
	}
	if reason, detail, ok := enginemsg.Unreachable(err); ok {
		return &sandbox.UnreachableError{Reason: sandbox.UnreachableReason(reason), Detail: detail, Err: err}
	}
	return err
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}
