package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/docker/docker/api/types/container"
	timetypes "github.com/docker/docker/api/types/time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
)

func wireWorkspace(w sandbox.Workspace) api.Workspace {
	return api.Workspace{
		Subdir: w.Subdir, Name: w.Name, ID: w.ID, Mode: string(w.Mode), Image: w.Image,
		State: w.State, Status: w.Status, Created: w.Created, Node: w.Node, Drift: w.Drift,
	}
}

// list answers the workspaces the token covers (those of no subdir, the
// original module's, are no token's).
func (s *Server) list(c *call) error {
	ctx, cancel := c.bounded()
	defer cancel()
	ws, err := s.o.Orchestrator.List(ctx)
	if err != nil {
		return err
	}
	out := []api.Workspace{}
	for _, w := range ws {
		if w.Subdir != "" && c.tok.Covers(w.Subdir) {
			out = append(out, wireWorkspace(w))
		}
	}
	c.json(http.StatusOK, out)
	return nil
}

// find is the workspace of the call's subdir: that subdir's, never a
// container a subdir-like reference happens to name (an ID, a gws- name).
func (c *call) find() (sandbox.Workspace, error) {
	ctx, cancel := c.bounded()
	defer cancel()
	targets, err := c.s.o.Orchestrator.Resolve(ctx, []string{c.subdir})
	if err != nil {
		return sandbox.Workspace{}, err
	}
	t := targets[0]
	if t.Workspace == nil || t.Workspace.Subdir != c.subdir {
		return sandbox.Workspace{}, notFound("workspace %q has no %s", c.subdir, c.s.o.Orchestrator.Traits().Unit)
	}
	return *t.Workspace, nil
}

func (s *Server) inspect(c *call) error {
	w, err := c.find()
	if err != nil {
		return err
	}
	c.json(http.StatusOK, wireWorkspace(w))
	return nil
}

// ensure makes sure the workspace exists and runs, with the token's
// configuration: a body that names any configuration is refused.
func (s *Server) ensure(c *call) error {
	var req api.EnsureRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if len(req.Config) > 0 {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range req.Config {
				if !yield(k) {
					return
				}
			}
		})
		return forbidden("configuration is the operator's: token %q is granted no field (%v)", c.tok.Name, keys)
	}
	res, err := c.ensured()
	if err != nil {
		return err
	}
	c.json(http.StatusOK, api.EnsureResult{
		Subdir: res.Subdir, Name: res.Name, ID: res.ID, Action: string(res.Action), Image: res.Image, Node: res.Node, Drift: res.Drift,
	})
	return nil
}

// ensured is the call's workspace ensured with its token's configuration.
func (c *call) ensured() (sandbox.Result, error) {
	ctx, cancel := c.bounded()
	defer cancel()
	res, err := c.s.o.Orchestrator.Ensure(ctx, c.subdir, c.tok.Config, sandbox.WithDriftEvent())
	if res.Subdir == "" {
		res.Subdir = c.subdir
	}
	return res, err
}

func (s *Server) stop(c *call) error {
	var req api.StopRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Timeout != nil && (*req.Timeout < 0 || *req.Timeout > 3600) {
		return badRequest("timeout: %d seconds is out of 0..3600", *req.Timeout)
	}
	w, err := c.find()
	if err != nil {
		return err
	}
	ctx := c.r.Context() // the stop waits its timeout
	if err := s.o.Orchestrator.Stop(ctx, w, sandbox.StopOptions{Timeout: req.Timeout}); err != nil {
		return err
	}
	c.json(http.StatusOK, wireWorkspace(w))
	return nil
}

// remove removes the workspace's container (or service), never its data;
// a running one only with ?force=true.
func (s *Server) remove(c *call) error {
	force, err := boolQuery(c.r, "force")
	if err != nil {
		return err
	}
	w, err := c.find()
	if err != nil {
		return err
	}
	if w.State == "running" && !force {
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: fmt.Sprintf("workspace %q is running: stop it first, or remove with force=true", c.subdir)}
	}
	ctx, cancel := c.bounded()
	defer cancel()
	if err := s.o.Orchestrator.Remove(ctx, w, sandbox.RemoveOptions{Force: force}); err != nil {
		return err
	}
	c.json(http.StatusOK, wireWorkspace(w))
	return nil
}

func boolQuery(r *http.Request, key string) (bool, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s: %q is not a boolean", key, v)
	}
	return b, nil
}

// stats answers one sample of a running workspace's use.
func (s *Server) stats(c *call) error {
	w, err := c.find()
	if err != nil {
		return err
	}
	ctx, cancel := c.bounded()
	defer cancel()
	loc, err := s.o.Orchestrator.Locate(ctx, w)
	if err != nil {
		return err
	}
	cli, err := s.o.Engine(loc)
	if err != nil {
		return err
	}
	resp, err := cli.ContainerStats(ctx, loc.ContainerID, false)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("read the stats of %s: %w", w.Name, err)
	}
	c.json(http.StatusOK, api.Stats{
		CPUPercent: sandbox.CPUPercent(&st), MemoryBytes: uint64(sandbox.MemoryUsed(st.MemoryStats)),
		MemoryLimit: st.MemoryStats.Limit, PIDs: st.PidsStats.Current,
	})
	return nil
}

// events streams, one JSON line each, what happens to the workspaces the
// token covers.
func (s *Server) events(c *call) error {
	q := c.r.URL.Query()
	for _, k := range []string{"since", "until"} {
		if v := q.Get(k); v != "" {
			if _, err := timetypes.GetTimestamp(v, s.o.Now()); err != nil {
				return badRequest("%s: %v", k, err)
			}
		}
	}
	ctx := c.r.Context()
	evs, errs := s.o.Orchestrator.Events(ctx, sandbox.EventOptions{Since: q.Get("since"), Until: q.Get("until")})
	flusher := http.NewResponseController(c.w)
	enc := json.NewEncoder(c.w)
	c.begin("application/x-ndjson")
	_ = flusher.Flush()
	for ev := range evs {
		if ev.Subdir == "" || !c.tok.Covers(ev.Subdir) {
			continue
		}
		if err := enc.Encode(api.Event{
			Time: ev.Time, Kind: ev.Kind, Reason: ev.Reason, Subdir: ev.Subdir, Name: ev.Name, ID: ev.ID,
			Node: ev.Node, ExitCode: ev.ExitCode, Detail: ev.Detail,
		}); err != nil {
			return err
		}
		_ = flusher.Flush()
	}
	if err := <-errs; err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
