package server

import (
	"net/http"
	"sync"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
)

// reapers are the reapers the server keeps between passes: one per token
// and options, so that a caller that asks every interval gets what a
// reaper that stays does (what it saw lives here). A reaper makes one pass
// at a time.
type reapers struct {
	mu sync.Mutex
	m  map[reapKey]*lockedReaper
}

type reapKey struct {
	tok     *Token // a reload makes new ones: a reaper never outlives its scope
	idleFor time.Duration
	cpu     float64
	pause   bool
	timeout int
}

// lockedReaper is a reaper whose passes do not overlap.
type lockedReaper struct {
	mu sync.Mutex
	r  sandbox.Reaper
}

// maxReapersPerToken bounds what a token can make the server keep; a
// token over it starts its own again, never another's.
const maxReapersPerToken = 8

// reset forgets the reapers (a reload: the tokens are new).
func (r *reapers) reset() {
	r.mu.Lock()
	r.m = nil
	r.mu.Unlock()
}

func (r *reapers) get(k reapKey, make func() sandbox.Reaper) *lockedReaper {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp, ok := r.m[k]; ok {
		return rp
	}
	if r.m == nil {
		r.m = map[reapKey]*lockedReaper{}
	}
	n := 0
	for o := range r.m {
		if o.tok == k.tok {
			n++
		}
	}
	if n >= maxReapersPerToken {
		for o := range r.m {
			if o.tok == k.tok {
				delete(r.m, o)
			}
		}
	}
	r.m[k] = &lockedReaper{r: make()}
	return r.m[k]
}

// reap makes one pass of a reaper over the workspaces the token covers
// (engine workspaces only: Swarm's are services).
func (s *Server) reap(c *call) error {
	var req api.ReapRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	k, err := reapOptions(c.tok, req)
	if err != nil {
		return err
	}
	cont, ok := s.o.Orchestrator.(sandbox.Containers)
	if !ok {
		return badRequest("reap acts on one engine's containers; this server's workspaces are %ss", s.o.Orchestrator.Traits().Unit)
	}
	tok := c.tok
	r := s.reapers.get(k, func() sandbox.Reaper {
		return cont.NewReaper(sandbox.ReapOptions{
			IdleFor: k.idleFor, CPU: k.cpu, Pause: k.pause, Stop: sandbox.StopOptions{Timeout: &k.timeout},
			Select: func(w sandbox.Workspace) bool { return w.Subdir != "" && tok.Covers(w.Subdir) },
		})
	})
	var ds []sandbox.Decision
	r.mu.Lock()
	if req.Once {
		ds, err = r.r.Once(c.r.Context(), time.Second)
	} else {
		ds, err = r.r.Pass(c.r.Context(), s.o.Now())
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	out := make([]api.ReapDecision, 0, len(ds))
	for _, d := range ds {
		out = append(out, api.ReapDecision{Subdir: d.Workspace.Subdir, Name: d.Workspace.Name, Action: d.Action, Why: d.Why, IdleSince: d.IdleSince})
	}
	c.json(http.StatusOK, out)
	return nil
}

// reapOptions checks a reap request.
func reapOptions(tok *Token, req api.ReapRequest) (reapKey, error) {
	k := reapKey{tok: tok, cpu: req.CPU, timeout: sandbox.DefaultStopTimeout}
	var err error
	if k.idleFor, err = time.ParseDuration(req.IdleFor); err != nil || k.idleFor <= 0 {
		return k, badRequest("idleFor: %q is not a positive duration (30m)", req.IdleFor)
	}
	switch req.Action {
	case "", "stop":
	case "pause":
		k.pause = true
	default:
		return k, badRequest(`action: %q is "stop" or "pause"`, req.Action)
	}
	if k.cpu == 0 {
		k.cpu = sandbox.DefaultReapCPU
	}
	if k.cpu < 0 || k.cpu > 64 {
		return k, badRequest("cpu: %g is a share of one CPU, such as 0.01", req.CPU)
	}
	if req.Timeout != nil {
		if *req.Timeout < 0 || *req.Timeout > 3600 {
			return k, badRequest("timeout: %d seconds is out of 0..3600", *req.Timeout)
		}
		k.timeout = *req.Timeout
	}
	return k, nil
}
