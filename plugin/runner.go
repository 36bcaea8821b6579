package plugin

import (
	"context"
	"errors"
)

// eachParallel runs do for each argument, up to parallel at a time, as
// docker/cli's parallelOperation does, and hands each result to report in
// the order of the arguments, as soon as it and those before it are done.
// A failure does not stop the others; one that means the engine cannot be
// reached does (the next call would fail the same way), and is returned
// alone. Otherwise the failures are returned joined, each as report made it.
func eachParallel[A, T any](ctx context.Context, args []A, parallel int, do func(ctx context.Context, arg A) (T, error), report func(arg A, v T, err error) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		v   T
		err error
	}
	outcomes := make([]chan outcome, len(args))
	slots := make(chan struct{}, max(parallel, 1))
	for i, arg := range args {
		outcomes[i] = make(chan outcome, 1)
		go func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			if err := ctx.Err(); err != nil {
				outcomes[i] <- outcome{err: err}
				return
			}
			v, err := do(ctx, arg)
			if unreachable(err) {
				cancel()
			}
			outcomes[i] <- outcome{v, err}
		}()
	}
	var errs []error
	var fatal error
	for i, arg := range args {
		o := <-outcomes[i]
		switch {
		case fatal != nil:
			continue
		case unreachable(o.err):
			fatal = o.err
			continue
		case o.err != nil && errors.Is(o.err, context.Canceled) && ctx.Err() != nil:
			continue // stopped by the failure of another
		}
		if err := report(arg, o.v, o.err); err != nil {
			errs = append(errs, err)
		}
	}
	if fatal != nil {
		return fatal
	}
	return errors.Join(errs...)
}
