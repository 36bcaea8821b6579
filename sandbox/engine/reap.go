package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// A reaper stops the workspace containers that have been idle for a while.
// Idle means, for the whole time: no exec session running in the container,
// no process in it but its init and `sleep infinity`, and no CPU use above
// a small threshold (the engine's stats, between two passes). What it knows
// lives in memory: a new Reaper starts counting anew. It never stops a
// container that is not a workspace's.
type reaper struct {
	m    *Manager
	opts sandbox.ReapOptions
	seen map[string]*activity // by container ID
}

type activity struct {
	lastBusy time.Time
	cpu      uint64 // total CPU time used, ns
	cpuAt    time.Time
}

// NewReaper returns a reaper over the engine of m.
func (m *Manager) NewReaper(opts sandbox.ReapOptions) sandbox.Reaper {
	if opts.CPU <= 0 {
		opts.CPU = sandbox.DefaultReapCPU
	}
	return &reaper{m: m, opts: opts, seen: map[string]*activity{}}
}

// reapParallel is how many workspaces a pass looks at, and stops, at
// once (as docker stop a b c does).
const reapParallel = 16

// Pass looks at every running workspace once, at now, and stops those that
// have been idle for IdleFor: one list, then every workspace decided on,
// and stopped, in parallel. A workspace seen for the first time starts
// being counted now; one that stopped or went away since the list is left
// out, never an error.
func (r *reaper) Pass(ctx context.Context, now time.Time) ([]sandbox.Decision, error) {
	workspaces, err := r.running(ctx)
	if err != nil {
		return nil, err
	}
	acts := make([]*activity, len(workspaces))
	alive := map[string]bool{}
	for i, w := range workspaces {
		alive[w.ID] = true
		if r.seen[w.ID] == nil {
			r.seen[w.ID] = &activity{lastBusy: now}
		}
		acts[i] = r.seen[w.ID]
	}
	for id := range r.seen {
		if !alive[id] {
			delete(r.seen, id)
		}
	}
	ds, err := eachWorkspace(ctx, workspaces, func(ctx context.Context, i int, w sandbox.Workspace) (*sandbox.Decision, error) {
		return r.decide(ctx, w, acts[i], now)
	})
	for _, d := range ds {
		if d.Action == "stopped" {
			delete(r.seen, d.Workspace.ID)
		}
	}
	return ds, err
}

// decide is what a pass does with one workspace: busy, idle so far, or
// stopped; nil when it changed state since the list.
func (r *reaper) decide(ctx context.Context, w sandbox.Workspace, a *activity, now time.Time) (*sandbox.Decision, error) {
	busy, why, err := r.busy(ctx, w, a, now)
	switch {
	case changedMeanwhile(err):
		return nil, nil // stopped or removed since the list: not this pass's
	case err != nil:
		return nil, err
	case busy:
		a.lastBusy = now
		return &sandbox.Decision{Workspace: w, Action: "busy", Why: why}, nil
	case now.Sub(a.lastBusy) >= r.opts.IdleFor:
		d, err := r.stop(ctx, w, fmt.Sprintf("idle since %s", a.lastBusy.Format(time.RFC3339)))
		if d != nil {
			d.IdleSince = a.lastBusy
		}
		return d, err
	}
	return &sandbox.Decision{Workspace: w, Action: "idle", IdleSince: a.lastBusy, Why: why}, nil
}

// eachWorkspace runs decide for every workspace, reapParallel at once,
// and returns the decisions in the order of the workspaces, and the
// errors, joined.
func eachWorkspace(ctx context.Context, ws []sandbox.Workspace, decide func(context.Context, int, sandbox.Workspace) (*sandbox.Decision, error)) ([]sandbox.Decision, error) {
	ds := make([]*sandbox.Decision, len(ws))
	errs := make([]error, len(ws))
	sem := make(chan struct{}, reapParallel)
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ds[i], errs[i] = decide(ctx, i, w)
		}()
	}
	wg.Wait()
	var out []sandbox.Decision
	for _, d := range ds {
		if d != nil {
			out = append(out, *d)
		}
	}
	return out, errors.Join(errs...)
}

// Once is the pass of a reaper that does not stay (run from cron): it
// stops the workspaces that have run for at least IdleFor and are idle
// now — no exec session, no process but init and sleep, no CPU use above
// the threshold over window. Every workspace is sampled, then decided on,
// in parallel.
func (r *reaper) Once(ctx context.Context, window time.Duration) ([]sandbox.Decision, error) {
	workspaces, err := r.running(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	acts := make([]*activity, len(workspaces))
	for i := range acts {
		acts[i] = &activity{}
	}
	if _, err := eachWorkspace(ctx, workspaces, func(ctx context.Context, i int, w sandbox.Workspace) (*sandbox.Decision, error) {
		if err := r.sampleCPU(ctx, w, acts[i], start); err != nil && !changedMeanwhile(err) {
			return nil, err
		}
		return nil, nil
	}); err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(window):
	}
	now := time.Now()
	return eachWorkspace(ctx, workspaces, func(ctx context.Context, i int, w sandbox.Workspace) (*sandbox.Decision, error) {
		return r.decideOnce(ctx, w, acts[i], now)
	})
}

// decideOnce is what Once does with one workspace.
func (r *reaper) decideOnce(ctx context.Context, w sandbox.Workspace, a *activity, now time.Time) (*sandbox.Decision, error) {
	busy, why, err := r.busy(ctx, w, a, now)
	switch {
	case changedMeanwhile(err):
		return nil, nil
	case err != nil:
		return nil, err
	case busy:
		return &sandbox.Decision{Workspace: w, Action: "busy", Why: why}, nil
	}
	ctr, err := r.m.client.ContainerInspect(ctx, w.ID)
	if err != nil {
		return nil, nil // gone meanwhile
	}
	started, _ := time.Parse(time.RFC3339Nano, ctr.State.StartedAt)
	if now.Sub(started) < r.opts.IdleFor {
		return &sandbox.Decision{Workspace: w, Action: "idle", IdleSince: started, Why: "started less than the idle time ago"}, nil
	}
	return r.stop(ctx, w, "idle now, running since "+started.Format(time.RFC3339))
}

func (r *reaper) running(ctx context.Context) ([]sandbox.Workspace, error) {
	all, err := r.m.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []sandbox.Workspace
	for _, w := range all {
		if w.State == string(container.StateRunning) && (r.opts.Select == nil || r.opts.Select(w)) {
			out = append(out, w)
		}
	}
	return out, nil
}

// stop stops (or pauses) an idle workspace; one that stopped or went away meanwhile
// is no decision (nil), never an error.
func (r *reaper) stop(ctx context.Context, w sandbox.Workspace, why string) (*sandbox.Decision, error) {
	// The reason, on the engine's event stream; a container that is gone
	// or stopped meanwhile refuses it, and the stop below says so.
	_, _ = r.m.client.ContainerExecCreate(ctx, w.ID, sandbox.Marker(sandbox.MarkReason, sandbox.ReasonReaper))
	if r.opts.Pause {
		err := r.m.client.ContainerPause(ctx, w.ID)
		switch {
		case changedMeanwhile(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("pause container %s: %w", w.Name, err)
		}
		return &sandbox.Decision{Workspace: w, Action: "paused", Why: why}, nil
	}
	err := r.m.Stop(ctx, w, r.opts.Stop)
	switch {
	case errors.Is(err, sandbox.ErrNoSuchWorkspace):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &sandbox.Decision{Workspace: w, Action: "stopped", Why: why}, nil
}

// busy says whether a workspace does something, and what.
func (r *reaper) busy(ctx context.Context, w sandbox.Workspace, a *activity, now time.Time) (bool, string, error) {
	ctr, err := r.m.client.ContainerInspect(ctx, w.ID)
	if err != nil {
		return false, "", err
	}
	for _, id := range ctr.ExecIDs {
		ex, err := r.m.client.ContainerExecInspect(ctx, id)
		if err == nil && ex.Running {
			return true, fmt.Sprintf("an exec session runs (pid %d)", ex.Pid), nil
		}
	}
	top, err := r.m.client.ContainerTop(ctx, w.ID, nil)
	if err != nil {
		return false, "", err
	}
	if cmd := otherProcess(top); cmd != "" {
		return true, fmt.Sprintf("process %q runs", cmd), nil
	}
	before, at := a.cpu, a.cpuAt
	if err := r.sampleCPU(ctx, w, a, now); err != nil {
		return false, "", err
	}
	if !at.IsZero() && now.After(at) && a.cpu >= before {
		share := float64(a.cpu-before) / float64(now.Sub(at).Nanoseconds())
		if share > r.opts.CPU {
			return true, fmt.Sprintf("it used %.1f%% of a CPU", 100*share), nil
		}
	}
	return false, "no exec session, no process, no CPU use", nil
}

// otherProcess is the command of a process of a top that is neither the
// container's init nor its `sleep infinity`, or "".
func otherProcess(top container.TopResponse) string {
	col := -1
	for i, t := range top.Titles {
		if t == "CMD" || t == "COMMAND" {
			col = i
		}
	}
	if col < 0 {
		return ""
	}
	for _, p := range top.Processes {
		if col >= len(p) {
			continue
		}
		cmd := strings.TrimSpace(p[col])
		if cmd == strings.Join(sandbox.SleepForever, " ") || strings.HasSuffix(cmd, " -- "+strings.Join(sandbox.SleepForever, " ")) {
			continue
		}
		return cmd
	}
	return ""
}

func (r *reaper) sampleCPU(ctx context.Context, w sandbox.Workspace, a *activity, now time.Time) error {
	resp, err := r.m.client.ContainerStatsOneShot(ctx, w.ID)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var stats container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&stats); err != nil {
		return fmt.Errorf("read the stats of container %s: %w", w.Name, err)
	}
	a.cpu, a.cpuAt = stats.CPUStats.CPUUsage.TotalUsage, now
	return nil
}

// changedMeanwhile: the container was removed (NotFound) or stopped
// (Conflict: "is not running") since the list a pass works on.
func changedMeanwhile(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err)
}
