package swarm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	swarmtypes "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/engine"
	"github.com/docker-workspace/docker-workspace/sandbox/internal/claims"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

// manager is a Swarm over the fake manager f, reaching the nodes' engines
// of f.
func manager(f *sandboxtest.Swarm) *Swarm {
	return New(f, Options{NodeEngine: f.NodeEngine})
}

func volumeConfig() sandbox.Config {
	return sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeVolumeSubpath, Pull: sandbox.PullMissing, WorkspaceVolume: "ws", SharedVolume: "sh"}
}

func swarmConfig() sandbox.Config {
	cfg := volumeConfig()
	cfg.Init = true
	return cfg
}

func init() { swarmPollStep, swarmQuiet = time.Millisecond, 0 }

// A new workspace: its directory is made on the node it is pinned to,
// through that node's engine; its service has one replica, our labels, the
// subpath mount and stop-first updates. A warm ensure is one call.
func TestSwarmEnsureCreatesAPinnedService(t *testing.T) {
	f := sandboxtest.NewSwarm()
	f.Nodes[0].Description.Engine.EngineVersion = "20.10.24+dfsg1" // cannot apply a subpath
	delete(f.Nodes[1].Spec.Labels, sandbox.LabelNodeEngine)        // cannot be reached
	s := manager(f)
	cfg := swarmConfig()
	res, err := s.Ensure(context.Background(), "team/a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))
	assert.Check(t, is.Equal(res.Name, "gws-team-a"))
	assert.Check(t, is.Equal(res.Node, "sw3"))
	svc := f.Services[res.ID]
	assert.Assert(t, svc != nil)
	assert.Check(t, is.DeepEqual(svc.Spec.TaskTemplate.Placement.Constraints, []string{"node.labels.docker-workspace.subpath==true", "node.id==n3"}))
	// Only the nodes that apply a subpath are labelled so.
	assert.Check(t, is.Equal(f.Nodes[0].Spec.Labels[labelSubpathNode], ""))
	assert.Check(t, is.Equal(f.Nodes[1].Spec.Labels[labelSubpathNode], ""), "a node without an engine label cannot be checked")
	assert.Check(t, is.Equal(f.Nodes[2].Spec.Labels[labelSubpathNode], "true"))
	assert.Check(t, is.Equal(replicas(svc), uint64(1)))
	assert.Check(t, is.Equal(svc.Spec.UpdateConfig.Order, swarmtypes.UpdateOrderStopFirst))
	cs := svc.Spec.TaskTemplate.ContainerSpec
	assert.Check(t, is.Equal(cs.Labels[sandbox.LabelSubdir], "team/a"))
	assert.Check(t, is.Equal(svc.Spec.Labels[sandbox.LabelPlacement], "pinned"))
	assert.Check(t, is.DeepEqual([]string(cs.Command), []string{"sleep", "infinity"}))
	assert.Check(t, is.Equal(cs.Dir, sandbox.WorkspaceTarget))
	assert.Check(t, is.Equal(cs.Mounts[0].VolumeOptions.Subpath, "team/a"))
	assert.Check(t, is.Equal(cs.Mounts[0].Source, "ws"))
	// Open mode: alone on an overlay network of its own.
	assert.Check(t, is.DeepEqual(svc.Spec.TaskTemplate.Networks, []swarmtypes.NetworkAttachmentConfig{{Target: "gwsnet-team-a"}}))
	if n, ok := f.Networks["gwsnet-team-a"]; assert.Check(t, ok, "no network made") {
		assert.Check(t, is.Equal(n.Driver, "overlay"))
		assert.Check(t, is.Equal(n.Labels[sandbox.LabelEgressOf], "team/a"))
	}
	// Made on n3, owned by the image's user, and recorded there.
	ws := f.Engines["n3"].FS["ws"]
	assert.Assert(t, ws != nil, "nothing was made on n3")
	assert.Check(t, ws.Entries["team/a"] != nil && ws.Entries["team/a"].Dir)
	assert.Check(t, ws.Entries[claims.RegistryPath+"/"+recordName("team/a")] != nil)
	for _, other := range []string{"n1", "n2"} {
		assert.Check(t, is.Len(f.Engines[other].FS, 0), "made on %s", other)
	}

	f.CallLog = nil
	res, err = s.Ensure(context.Background(), "team/a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRunning))
	assert.Check(t, is.Equal(f.Calls(), "services"))
}

// stop scales to 0, ensure back to 1 (on the same node), rm removes the
// service: the data stays on the node through all three.
func TestSwarmStopStartRemoveKeepData(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	cfg := swarmConfig()
	res, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	node := pinnedNode(f.Services[res.ID])
	w := resolve1(t, s, "a")
	assert.NilError(t, s.Stop(context.Background(), w, sandbox.StopOptions{}))
	assert.Check(t, is.Equal(replicas(f.Services[res.ID]), uint64(0)))
	assert.NilError(t, s.Stop(context.Background(), w, sandbox.StopOptions{}), "stopped twice")
	ten := 10
	assert.Check(t, is.ErrorIs(s.Stop(context.Background(), w, sandbox.StopOptions{Timeout: &ten}), sandbox.ErrNotSupported))
	again, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again.Action, sandbox.ActionStarted))
	assert.Check(t, is.Equal(again.Node, f.Node(node).Description.Hostname))
	err = s.Remove(context.Background(), w, sandbox.RemoveOptions{})
	assert.Check(t, is.ErrorContains(err, "is running: stop it first"))
	assert.NilError(t, s.Remove(context.Background(), w, sandbox.RemoveOptions{Force: true}))
	assert.Check(t, is.Len(f.Services, 0))
	assert.Check(t, is.Len(f.Networks, 0), "its network stayed")
	assert.Check(t, f.Engines[node].FS["ws"].Entries["a"] != nil, "the data went with the service")
	err = s.Remove(context.Background(), w, sandbox.RemoveOptions{Force: true})
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNoSuchWorkspace))
	targets, err := s.Resolve(context.Background(), []string{"a"})
	assert.NilError(t, err)
	assert.Check(t, targets[0].Workspace == nil && targets[0].Err == nil, "a subdir without a service")
}

// An ensure racing an rm (the service removed while the ensure waits for
// its task) makes the workspace anew, as on one engine (issue 17, Low).
func TestSwarmEnsureRacingARemove(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	cfg := swarmConfig()
	_, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	w := resolve1(t, s, "a")
	assert.NilError(t, s.Stop(context.Background(), w, sandbox.StopOptions{}))
	f.AfterServiceUpdate = func(id string) {
		f.AfterServiceUpdate = nil
		delete(f.Services, id)
	}
	res, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))
	assert.Check(t, is.Len(f.Services, 1))
}

// resolve1 resolves one reference; it must name a workspace.
func resolve1(t *testing.T, s *Swarm, ref string) sandbox.Workspace {
	t.Helper()
	targets, err := s.Resolve(context.Background(), []string{ref})
	assert.NilError(t, err)
	assert.NilError(t, targets[0].Err)
	assert.Assert(t, targets[0].Workspace != nil, "%s names no workspace", ref)
	return *targets[0].Workspace
}

// Many ensures at once: one service; the losers adopt it.
func TestSwarmConcurrentEnsures(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	var wg sync.WaitGroup
	ids := make([]string, 20)
	errs := make([]error, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Ensure(context.Background(), "a", swarmConfig())
			ids[i], errs[i] = res.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		assert.Check(t, errs[i])
		assert.Check(t, is.Equal(ids[i], ids[0]))
	}
	assert.Check(t, is.Len(f.Services, 1))
}

// A service of the name that is another workspace's, or nobody's, is
// refused and left untouched.
func TestSwarmIdentity(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	_, err := s.Ensure(context.Background(), "a.b", swarmConfig())
	assert.NilError(t, err)
	_, err = s.Ensure(context.Background(), "a_b", swarmConfig())
	assert.Check(t, is.ErrorContains(err, `service gws-a-b belongs to workspace "a.b"`))
	f.Services["x"] = &swarmtypes.Service{ID: "x", Spec: swarmtypes.ServiceSpec{Annotations: swarmtypes.Annotations{Name: "gws-c"}}}
	_, err = s.Ensure(context.Background(), "c", swarmConfig())
	assert.Check(t, is.ErrorContains(err, "is not a workspace's"))
	// Not a workspace's: stop and rm find no workspace there.
	targets, err := s.Resolve(context.Background(), []string{"c", "gws-c", "x"})
	assert.NilError(t, err)
	for _, tg := range targets {
		assert.Check(t, tg.Workspace == nil, tg.Ref)
	}
}

// sandbox.Drift is reported; if-changed updates the service (stop-first, its pin
// kept) and waits for a task of the new configuration.
func TestSwarmDriftAndRecreate(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	cfg := swarmConfig()
	res, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	cfg.Memory = 1 << 30
	got, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got.Drift, []string{"limits"}))
	assert.Check(t, is.Equal(got.Action, sandbox.ActionRunning))
	cfg.Recreate = sandbox.RecreateIfChanged
	got, err = s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.Action, sandbox.ActionRecreated))
	assert.Check(t, is.Equal(got.Node, res.Node))
	svc := f.Services[res.ID]
	pin := pinnedNode(svc)
	assert.Check(t, is.Equal(svc.Spec.TaskTemplate.Resources.Limits.MemoryBytes, int64(1<<30)))
	assert.Check(t, is.Equal(f.Node(pin).Description.Hostname, res.Node))
	running := 0
	for _, t := range f.Tasks {
		if t.DesiredState == swarmtypes.TaskStateRunning {
			running++
		}
	}
	assert.Check(t, is.Equal(running, 1))
	cfg.Recreate = sandbox.RecreateAlways
	got, err = s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.Action, sandbox.ActionRecreated))
	assert.Check(t, is.Equal(f.Services[res.ID].Spec.TaskTemplate.ForceUpdate, uint64(2)))
}

// What a workspace on Swarm cannot be is refused before anything is made.
func TestSwarmRefusals(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	bind := sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeBind, WorkspaceRoot: "/w", SharedDir: "/s"}
	_, err := s.Ensure(context.Background(), "a", bind)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotSupported))
	assert.Check(t, is.ErrorContains(err, "bind mode (a task may start on any node"))
	shared := swarmConfig()
	shared.Placement = sandbox.PlacementShared
	_, err = s.Ensure(context.Background(), "a", shared)
	assert.Check(t, is.ErrorContains(err, "placement shared needs volumes"))
	seccomp := swarmConfig()
	seccomp.SecurityOpt = []string{"seccomp=unconfined"}
	_, err = s.Ensure(context.Background(), "a", seccomp)
	assert.Check(t, is.ErrorContains(err, "refused rather than dropped"))
	compose := swarmConfig()
	compose.ComposeProject = "p"
	_, err = s.Ensure(context.Background(), "a", compose)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotSupported))
	assert.Check(t, is.ErrorContains(err, "a Compose project (Compose runs its services on one engine)"))
	assert.Check(t, is.Len(f.Services, 0))
	assert.Check(t, is.Equal(f.Calls(), ""))

	for _, n := range f.Nodes {
		delete(n.Spec.Labels, sandbox.LabelNodeEngine)
	}
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.Check(t, is.ErrorContains(err, "no node can take workspace \"a\": sw1 has no docker-workspace.engine label"))

	f.Control, f.CallLog = false, nil
	assert.Check(t, is.ErrorContains(s.checkManager(context.Background()), "is a Swarm worker"))
	// Nothing is asked up front: the refusal of the first call is told.
	f.CallLog = nil
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotManager))
	assert.Check(t, is.ErrorContains(err, "is a Swarm worker, not a manager"))
	assert.Check(t, is.Equal(f.Calls(), "services info"))
	f.State = swarmtypes.LocalNodeStateInactive
	assert.Check(t, is.ErrorIs(s.checkManager(context.Background()), sandbox.ErrNotManager))
}

// sandbox.Shared placement: no pin, old engines kept out; the volumes carry their
// driver options. When the node of the task goes down and Swarm starts the
// workspace elsewhere, List says a container may still run there.
func TestSwarmSharedPlacement(t *testing.T) {
	f := sandboxtest.NewSwarm()
	f.AddNode("n4", "old", "20.10.24", "old")
	s := manager(f)
	cfg := swarmConfig()
	cfg.Placement = sandbox.PlacementShared
	cfg.VolumeOptions = map[string]string{"type": "nfs", "device": ":/ws"}
	cfg.SharedVolumeOptions = map[string]string{"type": "nfs", "device": ":/sh"}
	res, err := s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	svc := f.Services[res.ID]
	storage := storageLabel(cfg)
	assert.Check(t, is.DeepEqual(svc.Spec.TaskTemplate.Placement.Constraints, []string{"node.labels.docker-workspace.subpath==true", "node.labels." + storage + "==true"}))
	// The nodes whose volumes were checked for that storage, and only they.
	for _, n := range []string{"n1", "n2", "n3"} {
		assert.Check(t, is.Equal(f.Node(n).Spec.Labels[storage], "true"), n)
	}
	assert.Check(t, is.Equal(f.Node("n4").Spec.Labels[storage], ""))
	assert.Check(t, is.Equal(f.Node("n4").Spec.Labels[labelSubpathNode], ""), "an old Engine labelled")
	ms := svc.Spec.TaskTemplate.ContainerSpec.Mounts
	assert.Check(t, is.DeepEqual(ms[0].VolumeOptions.DriverConfig, &mount.Driver{Name: "local", Options: cfg.VolumeOptions}))
	assert.Check(t, is.DeepEqual(ms[1].VolumeOptions.DriverConfig, &mount.Driver{Name: "local", Options: cfg.SharedVolumeOptions}))

	// The node dies; Swarm moves the task.
	var first string
	for _, t := range f.Tasks {
		first = t.NodeID
	}
	f.Mu.Lock()
	f.Node(first).Status.State = swarmtypes.NodeStateDown
	svc.Spec.TaskTemplate.ForceUpdate++ // the orchestrator replaces the task
	f.Reconcile(svc)
	f.Mu.Unlock()
	ws, err := s.List(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, is.Len(ws, 1))
	assert.Check(t, ws[0].Node != "" && ws[0].Node != f.Node(first).Description.Hostname, "node %q", ws[0].Node)
	assert.Check(t, is.Equal(ws[0].State, "running"))
	assert.Assert(t, is.Len(ws[0].Warnings, 1))
	assert.Check(t, is.Contains(ws[0].Warnings[0], "may still run on node "+f.Node(first).Description.Hostname))

	// A node of an old Engine that claims the label loses it at the next
	// ensure that places a workspace.
	f.Node("n4").Spec.Labels[labelSubpathNode] = "true"
	_, err = s.Ensure(context.Background(), "b", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.Node("n4").Spec.Labels[labelSubpathNode], ""))
}

// A pinned workspace whose node is down waits, and says why.
func TestSwarmPinnedWaitsForItsNode(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	res, err := s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	assert.NilError(t, s.Stop(context.Background(), resolve1(t, s, "a"), sandbox.StopOptions{}))
	pin := pinnedNode(f.Services[res.ID])
	f.Node(pin).Status.State = swarmtypes.NodeStateDown
	old := swarmWait
	swarmWait = 20 * time.Millisecond
	defer func() { swarmWait = old }()
	var progress strings.Builder
	s.opts.Progress = &progress
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.Check(t, is.ErrorContains(err, "no task running after"))
	assert.Check(t, is.Contains(progress.String(), "gws-a: task pending: no suitable node"))
	for _, t2 := range f.Tasks {
		assert.Check(t, t2.DesiredState != swarmtypes.TaskStateRunning || t2.NodeID == "" || t2.NodeID == pin, "a task elsewhere")
	}
}

func TestServiceName(t *testing.T) {
	for subdir, want := range map[string]string{"alice": "gws-alice", "a.b_c": "gws-a-b-c", "Team/Bob": "gws-team-bob", "x_": "gws-x"} {
		assert.Check(t, is.Equal(serviceName(subdir), want), subdir)
	}
}

// doctor's view: which nodes take workspaces and why not; a configuration
// Swarm cannot serve is a problem.
func TestSwarmCheck(t *testing.T) {
	f := sandboxtest.NewSwarm()
	f.Nodes[0].Description.Engine.EngineVersion = "20.10.24+dfsg1"
	delete(f.Nodes[1].Spec.Labels, sandbox.LabelNodeEngine)
	s := manager(f)
	r, err := s.Check(context.Background(), swarmConfig())
	assert.NilError(t, err)
	assert.Check(t, is.Len(r.Problems, 0))
	assert.Assert(t, is.Len(r.Nodes, 3))
	assert.Check(t, !r.Nodes[0].Subpath)
	assert.Check(t, is.Equal(r.Nodes[1].EngineError, "no docker-workspace.engine label"))
	assert.Check(t, r.Nodes[2].Subpath && r.Nodes[2].EngineError == "")
	assert.Check(t, is.Len(r.Warnings, 2))

	delete(f.Nodes[2].Spec.Labels, sandbox.LabelNodeEngine)
	bind := sandbox.Config{Image: sandbox.DefaultImage, Mode: sandbox.ModeBind, WorkspaceRoot: "/w", SharedDir: "/s"}
	r, err = s.Check(context.Background(), bind)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(r.Problems, 2))
	assert.Check(t, is.Contains(r.Problems[0], "bind mode"))
	assert.Check(t, is.Contains(r.Problems[0], "is not supported on swarm"))
	assert.Check(t, is.Contains(r.Problems[1], "no node can take a new workspace"))
}

// New workspaces spread over the nodes, also when many are placed at once.
func TestSwarmSpreadsNewWorkspaces(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Ensure(context.Background(), fmt.Sprintf("w%d", i), swarmConfig())
			assert.Check(t, err)
		}()
	}
	wg.Wait()
	per := map[string]int{}
	for _, svc := range f.Services {
		per[pinnedNode(svc)]++
	}
	assert.Check(t, is.DeepEqual(per, map[string]int{"n1": 4, "n2": 4, "n3": 4}))
}

// Two nested workspaces ensured at the same moment, from anywhere: the one
// claimed first is made, the other refused — also when they would be made
// on two nodes; one ensured later is refused too.
func TestSwarmNestedWorkspacesAreRefused(t *testing.T) {
	for round := range 10 {
		f := sandboxtest.NewSwarm()
		s1, s2 := manager(f), manager(f) // two processes
		outer, inner := fmt.Sprintf("t%d", round), fmt.Sprintf("t%d/bob", round)
		cfg := swarmConfig()
		cfg.Placement = sandbox.PlacementShared
		cfg.VolumeOptions = map[string]string{"type": "nfs", "device": ":/ws"}
		cfg.SharedVolumeOptions = map[string]string{"type": "nfs", "device": ":/sh"}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, sub := range []string{outer, inner} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = []*Swarm{s1, s2}[i].Ensure(context.Background(), sub, cfg)
			}()
		}
		wg.Wait()
		made := 0
		for _, err := range errs {
			if err == nil {
				made++
			} else {
				assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
			}
		}
		assert.Check(t, is.Equal(made, 1), "round %d: %v", round, errs)
		assert.Check(t, is.Len(f.Services, 1), "round %d", round)
		assert.Check(t, is.Len(f.Configs, 1), "round %d: the refused one's claim stays", round)
	}
	f := sandboxtest.NewSwarm()
	s := manager(f)
	_, err := s.Ensure(context.Background(), "team", swarmConfig())
	assert.NilError(t, err)
	_, err = s.Ensure(context.Background(), "team/bob", swarmConfig())
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.Check(t, is.ErrorContains(err, `would nest with workspace "team"`))
	_, ok := f.Networks[networkName("team/bob")]
	assert.Check(t, !ok, "the refused one's network stays (new-user pass 13)")
	_, ok = f.Networks[networkName("team")]
	assert.Check(t, ok)
	_, err = s.Ensure(context.Background(), "teamb", swarmConfig())
	assert.NilError(t, err, "a sibling whose name starts alike nests with nothing")
}

// A pinned workspace removed and ensured again goes back to the node of
// its data, whatever the load says now.
func TestSwarmPinnedComesBackToItsData(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	_, err := s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	var first string
	for _, svc := range f.Services {
		first = pinnedNode(svc)
	}
	assert.NilError(t, s.Remove(context.Background(), resolve1(t, s, "a"), sandbox.RemoveOptions{Force: true}))
	// The others get workspaces: the load now points elsewhere.
	for i := range 4 {
		_, err := s.Ensure(context.Background(), fmt.Sprintf("o%d", i), swarmConfig())
		assert.NilError(t, err)
	}
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	for _, svc := range f.Services {
		if svc.Spec.Labels[sandbox.LabelSubdir] == "a" {
			assert.Check(t, is.Equal(pinnedNode(svc), first))
		}
	}
}

// An engine keeps a volume as it was made: one of the name made otherwise
// on a node that may run the workspace is refused, not silently used; so
// is a node label that names another node's engine.
func TestSwarmChecksTheNodes(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	cfg := swarmConfig()
	cfg.Placement = sandbox.PlacementShared
	cfg.VolumeOptions = map[string]string{"type": "nfs", "device": ":/ws"}
	cfg.SharedVolumeOptions = map[string]string{"type": "nfs", "device": ":/sh"}
	f.Engines["n2"].Vols = map[string]volume.Volume{"ws": {Name: "ws", Driver: "local"}}
	_, err := s.Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "on node sw2: volume ws exists with driver local and options (none), not with the configured driver local and options device=:/ws,type=nfs"))
	assert.Check(t, is.Len(f.Services, 0))

	f = sandboxtest.NewSwarm()
	s = manager(f)
	s.opts.NodeEngine = func(_ context.Context, n swarmtypes.Node, _ string) (sandbox.Client, error) {
		return f.Engines["n3"], nil
	}
	_, err = s.Ensure(context.Background(), "a", swarmConfig())
	assert.Check(t, is.ErrorContains(err, "names the engine of another node"))
	assert.Check(t, is.Len(f.Services, 0))
}

// Bind volumes whose directories overlap, or are relative, are refused
// before anything is asked.
func TestVolumeBindDevicesConfig(t *testing.T) {
	cfg := swarmConfig()
	cfg.VolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/store"}
	cfg.SharedVolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/store/sh"}
	assert.Check(t, is.ErrorContains(cfg.Validate(), "overlaps the workspace volume's"))
	cfg.SharedVolumeOptions["device"] = "/srv/store"
	assert.Check(t, is.ErrorContains(cfg.Validate(), "overlaps the workspace volume's"))
	cfg.SharedVolumeOptions["device"] = "srv/sh"
	assert.Check(t, is.ErrorContains(cfg.Validate(), "must be an absolute path"))
	for _, d := range []string{"/tmp/lnk/../sh", "/srv/./sh", "/srv//sh", "/srv/sh/"} {
		cfg.SharedVolumeOptions["device"] = d
		assert.Check(t, is.ErrorContains(cfg.Validate(), "must be a clean path"), d)
	}
	cfg.SharedVolumeOptions["device"] = "/srv/sh"
	assert.Check(t, cfg.Validate())
}

// A service that is not kept off old Engines (an early version's) has
// drifted in its placement, and recreate puts the constraint on; a task of
// a node that left the Swarm may still run; a service labelled as a
// workspace's but named as none is not one.
func TestSwarmListAndDriftEdges(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	res, err := s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	svc := f.Services[res.ID]
	svc.Spec.TaskTemplate.Placement.Constraints = []string{"node.id==" + pinnedNode(svc)}
	got, err := s.Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got.Drift, []string{"placement"}))
	ws, err := s.List(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, is.Len(ws, 1))
	assert.Check(t, is.Len(ws[0].Warnings, 1))
	cfg := swarmConfig()
	cfg.Recreate = sandbox.RecreateIfChanged
	got, err = s.Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.Action, sandbox.ActionRecreated))
	assert.Check(t, keptOffOldEngines(f.Services[res.ID]))

	// Its node leaves the Swarm (docker node rm --force) with its task.
	f.Mu.Lock()
	for i := range f.Tasks {
		if f.Tasks[i].DesiredState == swarmtypes.TaskStateRunning {
			f.Tasks[i].DesiredState = swarmtypes.TaskStateShutdown
			f.Tasks[i].NodeID = "gone-node"
		}
	}
	f.Services["fake"] = &swarmtypes.Service{ID: "fake", Spec: swarmtypes.ServiceSpec{Annotations: swarmtypes.Annotations{Name: "gws-fake", Labels: map[string]string{sandbox.LabelSubdir: "other"}}}}
	f.Mu.Unlock()
	ws, err = s.List(context.Background())
	assert.NilError(t, err)
	assert.Assert(t, is.Len(ws, 1), "a service named as no workspace is listed")
	assert.Assert(t, is.Len(ws[0].Warnings, 1))
	assert.Check(t, is.Contains(ws[0].Warnings[0], "may still run on node gone-node, which left the Swarm"))
}

// Claims compare storages, not names: two volume names of one directory
// are one storage; a shared directory in, or above, the workspaces of
// another configuration meets them; workspace storages that nest meet.
func TestSwarmClaimsCompareStorages(t *testing.T) {
	bindCfg := func(vol, ws, sh string) sandbox.Config {
		cfg := swarmConfig()
		cfg.Placement, cfg.WorkspaceVolume, cfg.SharedVolume = sandbox.PlacementShared, vol, vol+"-sh"
		cfg.VolumeOptions = map[string]string{"type": "none", "o": "bind", "device": ws}
		cfg.SharedVolumeOptions = map[string]string{"type": "none", "o": "bind", "device": sh}
		return cfg
	}
	f := sandboxtest.NewSwarm()
	for _, e := range f.Engines { // the nodes' directories: below /srv, root's, 0700
		e.SetHost("/srv", &sandboxtest.MemEntry{Dir: true, Mode: 0o700})
		for _, d := range []string{"/srv/p/dev", "/srv/p/shared", "/srv/q/dev", "/srv/p/shared/x", "/srv/r/shared", "/srv/p/dev/deeper", "/srv/r/shared2", "/srv/other/dev", "/srv/other/shared"} {
			e.SetHost(d, &sandboxtest.MemEntry{Dir: true})
		}
	}
	s := manager(f)
	_, err := s.Ensure(context.Background(), "solo", bindCfg("v1", "/srv/p/dev", "/srv/p/shared"))
	assert.NilError(t, err)
	_, err = s.Ensure(context.Background(), "solo/bob", bindCfg("v2", "/srv/p/dev", "/srv/p/shared"))
	assert.Check(t, is.ErrorIs(err, sandbox.ErrOverlap))
	assert.Check(t, is.ErrorContains(err, `would nest with workspace "solo" in one storage (bind:/srv/p/dev)`))
	_, err = s.Ensure(context.Background(), "cb", bindCfg("v3", "/srv/q/dev", "/srv/p/dev/solo"))
	assert.Check(t, is.ErrorContains(err, `would share a directory (bind:/srv/p/dev/solo) that meets the workspaces' storage of workspace "solo"`))
	_, err = s.Ensure(context.Background(), "cc", bindCfg("v4", "/srv/p/shared/x", "/srv/r/shared"))
	assert.Check(t, is.ErrorContains(err, `that meets the shared directory of workspace "solo"`))
	_, err = s.Ensure(context.Background(), "cd", bindCfg("v5", "/srv/p/dev/deeper", "/srv/r/shared2"))
	assert.Check(t, is.ErrorContains(err, `nests with that of workspace "solo"`))
	_, err = s.Ensure(context.Background(), "ok", bindCfg("v6", "/srv/other/dev", "/srv/other/shared"))
	assert.NilError(t, err)
	// The refused ones' claims are gone: nothing of theirs was made.
	assert.Check(t, is.Len(f.Configs, 2))
}

// The third Swarm attack round's cases: local volumes over host paths in
// any other form than a checked bind directory; a bind directory in the
// workspaces of another configuration; a second volume name of one
// storage on an engine; volumes with options made in engine mode on a
// Swarm node, where only the Swarm orders the nodes.
func TestVolumeOptionsThatNameHostPaths(t *testing.T) {
	base := swarmConfig()
	for _, tc := range []struct {
		opts map[string]string
		err  string
	}{
		{map[string]string{"type": "overlay", "device": "overlay", "o": "lowerdir=/srv,upperdir=/srv/u,workdir=/srv/w"}, "over host directories (lowerdir="},
		{map[string]string{"type": "ext4", "device": "/dev/vda"}, "type=ext4: a local volume of that type mounts host storage"},
		{map[string]string{"type": "nfs", "device": "/export/ws", "o": "addr=10.0.0.2"}, "device=/export/ws: a host path is a bind volume's"},
		{map[string]string{"type": "nfs", "device": ":/export/ws", "o": "addr=10.0.0.2,rw"}, ""},
		{map[string]string{"type": "cifs", "device": "//server/share", "o": "username=u"}, ""},
		{map[string]string{"type": "tmpfs", "device": "tmpfs"}, ""},
	} {
		cfg := base
		cfg.VolumeOptions = tc.opts
		cfg.SharedVolumeOptions = map[string]string{"type": "nfs", "device": ":/sh", "o": "addr=10.0.0.2"}
		err := cfg.Validate()
		if tc.err == "" {
			assert.Check(t, err, "%v", tc.opts)
		} else {
			assert.Check(t, is.ErrorContains(err, tc.err), "%v", tc.opts)
		}
	}

	// A shared bind directory in another configuration's workspaces (a
	// directory that holds records), on one engine.
	f := sandboxtest.NewEngine()
	f.Vols = map[string]volume.Volume{}
	f.SetHost("/srv", &sandboxtest.MemEntry{Dir: true, Mode: 0o700})
	f.SetHost("/srv/ws", &sandboxtest.MemEntry{Dir: true})
	f.SetHost("/srv/other", &sandboxtest.MemEntry{Dir: true})
	f.SetHost("/srv/other/"+sandbox.RegistryDir, &sandboxtest.MemEntry{Dir: true, Mode: 0o700})
	f.SetHost("/srv/other/"+claims.RegistryPath, &sandboxtest.MemEntry{Dir: true, Mode: 0o700})
	rec, content := claims.RecordFor("eve")
	f.SetHost("/srv/other/"+claims.RegistryPath+"/"+rec, &sandboxtest.MemEntry{Data: string(content)})
	f.SetHost("/srv/other/eve", &sandboxtest.MemEntry{Dir: true})
	cfg := base
	cfg.VolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/ws"}
	cfg.SharedVolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/other/eve"}
	_, err := engine.New(f, engine.Options{}).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "the root of other workspaces"))
	assert.Check(t, f.ByName("gws-a") == nil)

	// A volume of another name on the same directory.
	f = sandboxtest.NewEngine()
	f.Vols = map[string]volume.Volume{"alias": {Name: "alias", Driver: "local", Options: map[string]string{"type": "none", "o": "bind", "device": "/srv/ws/"}}}
	cfg.SharedVolumeOptions = map[string]string{"type": "none", "o": "bind", "device": "/srv/sh"}
	_, err = engine.New(f, engine.Options{}).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "meets that of volume alias (bind:/srv/ws)"))

	// Engine mode on a node of a Swarm.
	f = sandboxtest.NewEngine()
	f.NodeID = "n1"
	_, err = engine.New(f, engine.Options{}).Ensure(context.Background(), "a", cfg)
	assert.Check(t, is.ErrorContains(err, "this engine is a node of a Swarm"))
	assert.Check(t, f.ByName("gws-a") == nil)
}

func recordName(subdir string) string {
	name, _ := claims.RecordFor(subdir)
	return name
}

// A workspace's network that is being removed (by the rm of a workspace
// of the subdir a moment before) when its service is made is made again.
func TestSwarmEnsureMakesAGoneNetworkAgain(t *testing.T) {
	f := sandboxtest.NewSwarm()
	gone := false
	f.OnServiceCreate = func(swarmtypes.ServiceSpec) {
		if !gone {
			gone = true
			delete(f.Networks, "gwsnet-a")
		}
	}
	res, err := manager(f).Ensure(context.Background(), "a", swarmConfig())
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionCreated))
	_, ok := f.Networks["gwsnet-a"]
	assert.Check(t, ok)
}

// lateNetwork is a manager whose first look at a network misses one that
// a concurrent ensure is making.
type lateNetwork struct {
	*sandboxtest.Swarm
	missed bool
}

func (l *lateNetwork) NetworkInspect(ctx context.Context, name string, opts network.InspectOptions) (network.Inspect, error) {
	if !l.missed {
		l.missed = true
		return network.Inspect{}, cerrdefs.ErrNotFound
	}
	return l.Swarm.NetworkInspect(ctx, name, opts)
}

// Two ensures of one workspace make its network at once: the one whose
// create Swarm refuses ("name conflicts with an existing object", no
// typed conflict) uses the other's (a CI flake of
// TestSwarmConcurrentEnsures).
func TestSwarmNetworkMadeByAConcurrentEnsure(t *testing.T) {
	f := sandboxtest.NewSwarm()
	_, err := f.NetworkCreate(context.Background(), networkName("a"), network.CreateOptions{
		Driver: "overlay", Labels: map[string]string{sandbox.LabelEgress: "network", sandbox.LabelEgressOf: "a"},
	})
	assert.NilError(t, err)
	s := New(&lateNetwork{Swarm: f}, Options{NodeEngine: f.NodeEngine})
	name, err := s.workspaceNetwork(context.Background(), "a")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(name, networkName("a")))
}

// unallocatedNetwork is a manager whose first looks at a network find it
// made but not yet allocated: no driver said.
type unallocatedNetwork struct {
	*sandboxtest.Swarm
	looks int
}

func (u *unallocatedNetwork) NetworkInspect(ctx context.Context, name string, opts network.InspectOptions) (network.Inspect, error) {
	n, err := u.Swarm.NetworkInspect(ctx, name, opts)
	u.looks++
	if u.looks < 3 {
		n.Driver = ""
	}
	return n, err
}

// A network a concurrent ensure just made, which Swarm's allocator has not
// reached (its driver unsaid), is waited for and used — not refused as
// another's (a CI flake of TestSwarmConcurrentEnsures).
func TestSwarmNetworkNotYetAllocated(t *testing.T) {
	f := sandboxtest.NewSwarm()
	_, err := f.NetworkCreate(context.Background(), networkName("a"), network.CreateOptions{
		Driver: "overlay", Labels: map[string]string{sandbox.LabelEgress: "network", sandbox.LabelEgressOf: "a"},
	})
	assert.NilError(t, err)
	u := &unallocatedNetwork{Swarm: f}
	s := New(u, Options{NodeEngine: f.NodeEngine})
	name, err := s.workspaceNetwork(context.Background(), "a")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(name, networkName("a")))
	assert.Check(t, is.Equal(u.looks, 3))
}

// A task its node is preparing is said as the pull it is (issue 22, Low:
// Swarm pulls were silent).
func TestTaskStateSaysThePull(t *testing.T) {
	task := &swarmtypes.Task{NodeID: "n2", Status: swarmtypes.TaskStatus{State: swarmtypes.TaskStatePreparing},
		Spec: swarmtypes.TaskSpec{ContainerSpec: &swarmtypes.ContainerSpec{Image: "agent/workspace:latest"}}}
	assert.Check(t, is.Equal(taskState("gws-a", task), "gws-a: task preparing (node n2 pulls agent/workspace:latest)"))
	task.Spec.ContainerSpec = nil
	assert.Check(t, is.Equal(taskState("gws-a", task), "gws-a: task preparing"))
}

// update goes through a service update: the task's limits change, the
// labels record them (drift compares with them), and the task of the
// update is waited for.
func TestSwarmUpdate(t *testing.T) {
	ctx := context.Background()
	f := sandboxtest.NewSwarm()
	s := manager(f)
	cfg := swarmConfig()
	res, err := s.Ensure(ctx, "a", cfg)
	assert.NilError(t, err)
	mem, pids := int64(128<<20), int64(50)
	assert.NilError(t, s.Update(ctx, resolve1(t, s, "a"), sandbox.Limits{Memory: &mem, PidsLimit: &pids}))
	svc := f.Services[res.ID]
	assert.Assert(t, svc.Spec.TaskTemplate.Resources != nil)
	assert.Check(t, is.Equal(svc.Spec.TaskTemplate.Resources.Limits.MemoryBytes, mem))
	assert.Check(t, is.Equal(svc.Spec.TaskTemplate.Resources.Limits.Pids, pids))
	updated := cfg
	updated.Memory, updated.PidsLimit = mem, pids
	again, err := s.Ensure(ctx, "a", updated)
	assert.NilError(t, err)
	assert.Check(t, is.Len(again.Drift, 0))
	old, err := s.Ensure(ctx, "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(old.Drift, []string{"limits"}))
	zero := int64(0)
	assert.Check(t, is.ErrorIs(s.Update(ctx, resolve1(t, s, "a"), sandbox.Limits{NanoCPUs: &zero}), sandbox.ErrInvalidConfig))
}

func TestSwarmServiceEventKinds(t *testing.T) {
	for _, tc := range []struct {
		action events.Action
		attrs  map[string]string
		want   string
	}{
		{events.ActionCreate, nil, sandbox.EventCreated},
		{events.ActionRemove, nil, sandbox.EventRemoved},
		{events.ActionUpdate, map[string]string{"replicas.old": "1", "replicas.new": "0"}, sandbox.EventStopped},
		{events.ActionUpdate, map[string]string{"replicas.old": "0", "replicas.new": "1"}, sandbox.EventStarted},
		{events.ActionUpdate, map[string]string{"image.old": "a", "image.new": "b"}, sandbox.EventUpdated},
		{events.ActionUpdate, map[string]string{"replicas.old": "1", "replicas.new": "1"}, sandbox.EventUpdated},
		{"rollback", nil, ""},
	} {
		assert.Check(t, is.Equal(serviceEventKind(tc.action, tc.attrs), tc.want), "%s %v", tc.action, tc.attrs)
	}
}

// A service event names its service: the subdir is the service's, or its
// claim's once it is gone; Swarm's own update right after a create is not
// told.
func TestSwarmServiceEvents(t *testing.T) {
	f := sandboxtest.NewSwarm()
	s := manager(f)
	ctx := context.Background()
	res, err := s.Ensure(ctx, "team/a", swarmConfig())
	assert.NilError(t, err)
	subdirs, err := s.subdirsByName(ctx)
	assert.NilError(t, err)
	var created sync.Map
	t0 := time.Now()
	msg := func(action events.Action, after time.Duration, attrs ...string) events.Message {
		m := events.Message{Type: events.ServiceEventType, Action: action, TimeNano: t0.Add(after).UnixNano(),
			Actor: events.Actor{ID: res.ID, Attributes: map[string]string{"name": res.Name}}}
		for i := 0; i+1 < len(attrs); i += 2 {
			m.Actor.Attributes[attrs[i]] = attrs[i+1]
		}
		return m
	}
	var got []string
	for _, m := range []events.Message{
		msg(events.ActionCreate, 0),
		msg(events.ActionUpdate, time.Second), // the allocator's
		msg(events.ActionUpdate, 10*time.Second, "replicas.old", "1", "replicas.new", "0"),
		msg(events.ActionUpdate, 20*time.Second), // a spec change of a user's
		msg(events.ActionRemove, 30*time.Second),
	} {
		if ev, ok := s.serviceEvent(ctx, m, subdirs, &created); ok {
			got = append(got, ev.Kind+" "+ev.Subdir)
		}
	}
	assert.Check(t, is.DeepEqual(got, []string{"created team/a", "stopped team/a", "updated team/a", "removed team/a"}))
	other := msg(events.ActionCreate, 0)
	other.Actor.Attributes["name"] = "web"
	_, ok := s.serviceEvent(ctx, other, subdirs, &created)
	assert.Check(t, !ok, "a service of no workspace")
}

// The progress of a task never goes back: a listing that lags shows an
// earlier state of the task said last, which is not said again; a newer
// task's states are (issue 22, pass 16: update's lines out of order).
func TestProgressGoesForward(t *testing.T) {
	task := func(id string, st swarmtypes.TaskState) *swarmtypes.Task {
		return &swarmtypes.Task{ID: id, Status: swarmtypes.TaskStatus{State: st}}
	}
	var m progressMark
	var said []string
	for _, tk := range []*swarmtypes.Task{
		task("a", swarmtypes.TaskStatePending), task("a", swarmtypes.TaskStatePreparing), task("a", swarmtypes.TaskStateAssigned),
		task("a", swarmtypes.TaskStateStarting), task("b", swarmtypes.TaskStatePending), task("b", swarmtypes.TaskStateNew),
	} {
		if m.forward(tk) {
			said = append(said, tk.ID+":"+string(tk.Status.State))
		}
	}
	assert.Check(t, is.DeepEqual(said, []string{"a:pending", "a:preparing", "a:starting", "b:pending"}))
}
