package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// The Swarm of scripts/engines.sh (up swarm): three nodes, each an Engine
// 28.5 in its own network namespace on this machine, sw1 the manager, and
// sw4, an Engine 20.10, which ignores volume subpaths. Contexts: "swarm"
// (the manager) and "sw1".."sw4" (each node's own engine, which the node
// labels docker-workspace.engine name).
var swarmNodes = []string{"sw1", "sw2", "sw3"}

// swarmHarness is a harness whose workspaces are services of the Swarm, in
// volumes of their own, configured as a gateway would: by GATEWAY_*
// variables (extraEnv adds some); they are removed, and then their volumes
// on every node, when the test ends.
type swarmHarness struct {
	*harness
	wsVol, shVol string
	volumes      []string // more volumes to remove, after the services
}

func newSwarmHarness(t *testing.T, extraEnv ...string) *swarmHarness {
	t.Helper()
	requireEngine(t, "swarm")
	for _, n := range swarmNodes {
		requireEngine(t, n)
	}
	h := newHarness(t)
	s := &swarmHarness{wsVol: "e2e-sw-ws-" + h.id, shVol: "e2e-sw-sh-" + h.id}
	s.harness = h.withEnv(append([]string{"GATEWAY_WORKSPACE_ORCHESTRATOR=swarm", "GATEWAY_WORKSPACE_MOUNT_MODE=volume_subpath",
		"GATEWAY_WORKSPACE_DOCKER_VOLUME=" + s.wsVol, "GATEWAY_SHARED_DOCKER_VOLUME=" + s.shVol}, extraEnv...)...)
	t.Cleanup(func() {
		out := h.docker("--context", "swarm", "service", "ls", "-q", "--filter", "label=docker-workspace.subdir").Stdout()
		for _, id := range strings.Fields(out) {
			name := strings.TrimSpace(h.docker("--context", "swarm", "service", "inspect", "--format", "{{.Spec.Name}}", id).Stdout())
			if strings.Contains(name, h.id) {
				h.docker("--context", "swarm", "service", "rm", id)
			}
		}
		// The claims of its workspaces (docker workspace rm keeps them).
		out = h.docker("--context", "swarm", "config", "ls", "--filter", "label=docker-workspace.claim", "--format", `{{.ID}} {{.Label "docker-workspace.subdir"}}`).Stdout()
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if id, subdir, ok := strings.Cut(l, " "); ok && strings.Contains(subdir, h.id) {
				h.docker("--context", "swarm", "config", "rm", id)
			}
		}
		for _, n := range swarmNodes {
			poll.WaitOn(t, func(poll.LogT) poll.Result {
				if out := h.docker("--context", n, "ps", "-aq", "--filter", "name=gws-e2e-"+h.id).Stdout(); strings.TrimSpace(out) != "" {
					h.docker("--context", n, "rm", "-f", "-v", strings.Fields(out)[0])
					return poll.Continue("containers of the test on %s", n)
				}
				return poll.Success()
			}, poll.WithTimeout(60*time.Second), poll.WithDelay(300*time.Millisecond))
			h.docker(append([]string{"--context", n, "volume", "rm", "-f", s.wsVol, s.shVol}, s.volumes...)...)
		}
	})
	return s
}

// ws runs `docker --context swarm workspace ARGS...`.
func (s *swarmHarness) ws(args ...string) *icmd.Result {
	s.t.Helper()
	return s.docker(append([]string{"--context", "swarm", "workspace"}, args...)...)
}

// subdir is a short subdir of this run: service names keep 63 characters.
func (s *swarmHarness) subdir(suffix string) string { return "e2e-" + s.id + suffix }

// task is what `docker service ps` says of the running task of a service.
func (s *swarmHarness) runningTasks(service string) []string {
	s.t.Helper()
	res := s.docker("--context", "swarm", "service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", service)
	res.Assert(s.t, icmd.Success)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(res.Stdout()), "\n") {
		if strings.Contains(l, "Running") {
			out = append(out, strings.Fields(l)[0])
		}
	}
	return out
}

// containersOf lists the containers of a workspace on a node's engine
// (running or not).
func (s *swarmHarness) containersOf(node, subdir, status string) []string {
	s.t.Helper()
	args := []string{"--context", node, "ps", "-q", "--filter", "label=docker-workspace.subdir=" + subdir}
	if status != "" {
		args = append(args, "--filter", "status="+status)
	}
	res := s.docker(args...)
	res.Assert(s.t, icmd.Success)
	return strings.Fields(res.Stdout())
}

// nodeOf is the node ls says a workspace is on.
func (s *swarmHarness) nodeOf(subdir string) string {
	s.t.Helper()
	res := s.ws("ls", "--filter", "subdir="+subdir, "--format", "{{.Node}}")
	res.Assert(s.t, icmd.Success)
	return strings.TrimSpace(res.Stdout())
}

func nodeIndex(node string) string { return strings.TrimPrefix(node, "sw") }

// A workspace on Swarm: a service of one replica with our labels, whose
// task has the workspace's subpath mounted; exec reaches it through its
// node's label; stop scales it to 0, ensure back, rm removes the service;
// the data stays through all of it.
func TestSwarmLifecycle(t *testing.T) {
	s := newSwarmHarness(t)
	a := s.subdir("-a")
	res := s.ws("ensure", "--format", "{{.Name}} {{.Action}} {{.Node}}", a)
	res.Assert(t, icmd.Success)
	f := strings.Fields(res.Stdout())
	assert.Assert(t, is.Len(f, 3), res.Stdout())
	name, action, node := f[0], f[1], f[2]
	assert.Check(t, is.Equal(name, containerName(a)))
	assert.Check(t, is.Equal(action, "created"))
	assert.Check(t, is.Contains(swarmNodes, node))

	svc := s.docker("--context", "swarm", "service", "inspect", "--format",
		`{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.Labels "docker-workspace.subdir"}} {{index .Spec.Labels "docker-workspace.placement"}} {{.Spec.UpdateConfig.Order}} {{join .Spec.TaskTemplate.Placement.Constraints ","}}`, name)
	svc.Assert(t, icmd.Success)
	f = strings.Fields(svc.Stdout())
	assert.Assert(t, is.Len(f, 5), svc.Stdout())
	assert.Check(t, is.Equal(f[0], "1"))
	assert.Check(t, is.Equal(f[1], a))
	assert.Check(t, is.Equal(f[2], "pinned"))
	assert.Check(t, is.Equal(f[3], "stop-first"))
	nodeID := strings.TrimSpace(s.docker("--context", "swarm", "node", "inspect", "--format", "{{.ID}}", node).Stdout())
	assert.Check(t, is.Equal(f[4], "node.labels.docker-workspace.subpath==true,node.id=="+nodeID))
	assert.Check(t, is.DeepEqual(s.runningTasks(name), []string{node}))

	// The task's container, on its node: the workspace's subpath, the
	// shared volume, and nothing of it on the other nodes.
	ids := s.containersOf(node, a, "running")
	assert.Assert(t, is.Len(ids, 1))
	c := s.inspect(node, ids[0])
	typ, vol, _, rw := c.mountAt(t, "/home/agent/workspace")
	assert.Check(t, is.Equal(typ, "volume"))
	assert.Check(t, is.Equal(vol, s.wsVol))
	assert.Check(t, rw)
	_, vol, _, _ = c.mountAt(t, "/home/agent/shared")
	assert.Check(t, is.Equal(vol, s.shVol))
	for _, other := range swarmNodes {
		if other != node {
			assert.Check(t, is.Len(s.containersOf(other, a, ""), 0), "a container of %s on %s", a, other)
		}
	}
	// The workspace sees its subdir only, and is the user's.
	s.ws("exec", a, "sh", "-c", "echo kept > f; ls -A /home/agent/workspace; id -u").
		Assert(t, icmd.Expected{Out: "f\n1000"})
	s.ws("ls").Assert(t, icmd.Expected{Out: "NODE"})
	row := s.ws("ls", "--filter", "subdir="+a, "--format", "{{.Name}} {{.Node}} {{.State}}")
	row.Assert(t, icmd.Expected{Out: name + " " + node + " running"})

	// Warm: nothing done.
	s.ws("ensure", "--format", "{{.Action}}", a).Assert(t, icmd.Expected{Out: "running"})

	// Stop: scaled to 0, no container runs, the data stays.
	s.ws("stop", a).Assert(t, icmd.Expected{Out: a})
	assert.Check(t, is.Equal(strings.TrimSpace(s.docker("--context", "swarm", "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", name).Stdout()), "0"))
	assert.Check(t, is.Len(s.containersOf(node, a, "running"), 0))
	s.ws("ls", "--filter", "subdir="+a, "--format", "{{.State}}").Assert(t, icmd.Expected{Out: "stopped"})
	s.ws("exec", "--no-ensure", a, "true").Assert(t, icmd.Expected{ExitCode: 1, Err: "is not running"})
	s.ws("ensure", "--format", "{{.Action}} {{.Node}}", a).Assert(t, icmd.Expected{Out: "started " + node})
	s.ws("exec", a, "cat", "f").Assert(t, icmd.Expected{Out: "kept"})

	// cp through the node's engine, both ways.
	local := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(local, "in"), []byte("copied\n"), 0o644))
	s.ws("cp", filepath.Join(local, "in"), a+":in").Assert(t, icmd.Success)
	s.ws("cp", a+":f", filepath.Join(local, "out")).Assert(t, icmd.Success)
	got, err := os.ReadFile(filepath.Join(local, "out"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(got), "kept\n"))
	s.ws("exec", a, "cat", "in").Assert(t, icmd.Expected{Out: "copied"})

	// rm: a running one only with -f; the service goes, the data stays and
	// comes back with the next ensure (on the node that has it).
	s.ws("rm", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "is running: stop it first, or remove it with force"})
	s.ws("rm", "-f", a).Assert(t, icmd.Expected{Out: a})
	s.docker("--context", "swarm", "service", "inspect", name).Assert(t, icmd.Expected{ExitCode: 1, Err: "no such service"})
	// It returned once the task's container stopped (new-user pass 10).
	assert.Check(t, is.Len(s.containersOf(node, a, "running"), 0))
	s.ws("rm", "-f", a).Assert(t, icmd.Success) // gone already: no error with -f
	s.ws("ensure", "--format", "{{.Action}}", a).Assert(t, icmd.Expected{Out: "created"})
	s.ws("exec", a, "cat", "f").Assert(t, icmd.Expected{Out: "kept"})
}

// Twenty ensures at once, from twenty processes: one service, one task.
func TestSwarmConcurrentEnsures(t *testing.T) {
	s := newSwarmHarness(t)
	a := s.subdir("-c")
	var wg sync.WaitGroup
	results := make([]*icmd.Result, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.ws("ensure", "--format", "{{.ID}} {{.Action}}", a)
		}()
	}
	wg.Wait()
	ids, actions := map[string]int{}, map[string]int{}
	for _, r := range results {
		r.Assert(t, icmd.Success)
		id, action, _ := strings.Cut(strings.TrimSpace(r.Stdout()), " ")
		ids[id]++
		actions[action]++
	}
	t.Logf("20 concurrent ensure processes on Swarm: services %v, actions %v", ids, actions)
	assert.Check(t, is.Len(ids, 1))
	assert.Check(t, is.Equal(actions["created"], 1))
	out := s.docker("--context", "swarm", "service", "ls", "-q", "--filter", "name="+containerName(a)).Stdout()
	assert.Check(t, is.Len(strings.Fields(out), 1))
	assert.Check(t, is.Len(s.runningTasks(containerName(a)), 1))
}

// Drift is reported; --recreate if-changed replaces the task (stop-first:
// never two), on the same node, the data kept.
func TestSwarmDriftAndRecreate(t *testing.T) {
	s := newSwarmHarness(t)
	a := s.subdir("-d")
	res := s.ws("ensure", "--format", "{{.Node}}", a)
	res.Assert(t, icmd.Success)
	node := strings.TrimSpace(res.Stdout())
	s.ws("exec", a, "sh", "-c", "echo kept > f").Assert(t, icmd.Success)
	before := s.containersOf(node, a, "running")

	s.ws("ensure", "--memory", "256m", a).Assert(t, icmd.Expected{Err: "differs from the configuration (limits)"})
	s.ws("ls", "--check-config", "--memory", "256m", "--filter", "subdir="+a, "--format", "{{.Drift}}").Assert(t, icmd.Expected{Out: "[limits]"})
	s.ws("ensure", "--memory", "256m", "--recreate", "if-changed", "--format", "{{.Action}} {{.Node}}", a).
		Assert(t, icmd.Expected{Out: "recreated " + node})
	after := s.containersOf(node, a, "running")
	assert.Assert(t, is.Len(after, 1))
	assert.Check(t, after[0] != before[0], "the same container")
	assert.Check(t, is.Equal(s.inspect(node, after[0]).HostConfig.Memory, int64(256<<20)))
	s.ws("exec", "--memory", "256m", a, "cat", "f").Assert(t, icmd.Expected{Out: "kept"})
	updates := s.docker("--context", "swarm", "service", "inspect", "--format", "{{.Spec.UpdateConfig.Order}}", containerName(a))
	updates.Assert(t, icmd.Expected{Out: "stop-first"})
	s.ws("ensure", "--memory", "256m", "--recreate", "always", "--format", "{{.Action}}", a).Assert(t, icmd.Expected{Out: "recreated"})
	assert.Check(t, is.Len(s.runningTasks(containerName(a)), 1))
}

// What a workspace on Swarm cannot be, or where it cannot go, is refused in
// one line, and nothing is made.
func TestSwarmRefusals(t *testing.T) {
	s := newSwarmHarness(t)
	a := s.subdir("-r")
	// Not a manager: the modern engine, and a worker.
	s.docker("--context", "modern", "workspace", "ensure", a).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "this engine is in no Swarm"})
	s.docker("--context", "sw2", "workspace", "ls").
		Assert(t, icmd.Expected{ExitCode: 1, Err: "is a Swarm worker, not a manager: use a context of a Swarm manager"})
	// Bind mode, a shared placement of local volumes, Compose.
	s.ws("ensure", "--mount-mode", "bind", "--workspace-root", "/tmp/x", "--shared-dir", "/tmp/y", a).
		Assert(t, icmd.Expected{ExitCode: 125, Err: "bind mode (a task may start on any node, and only volumes go with it: use volume_subpath mode) is not supported on swarm"})
	s.ws("ensure", "--placement", "shared", a).Assert(t, icmd.Expected{ExitCode: 125, Err: "placement shared needs volumes whose driver options name the same storage on every node"})
	s.ws("ensure", "--compose-project", "p", a).Assert(t, icmd.Expected{ExitCode: 125, Err: "a Compose project is not supported on swarm"})
	s.ws("ensure", "--security-opt", "seccomp=unconfined", a).Assert(t, icmd.Expected{ExitCode: 125, Err: "refused rather than dropped"})
	s.ws("prune", "-f").Assert(t, icmd.Expected{ExitCode: 125, Err: "prune is not supported on swarm"})
	s.docker("--context", "swarm", "service", "inspect", containerName(a)).Assert(t, icmd.Expected{ExitCode: 1})

	// A service of the name that is not a workspace's is left alone.
	other := s.subdir("-o")
	s.docker("--context", "swarm", "service", "create", "--detach", "--no-resolve-image", "--name", containerName(other), "agent/workspace:latest", "sleep", "infinity").Assert(t, icmd.Success)
	t.Cleanup(func() { s.docker("--context", "swarm", "service", "rm", containerName(other)) })
	s.ws("ensure", other).Assert(t, icmd.Expected{ExitCode: 1, Err: "is not a workspace's"})
	s.ws("stop", other).Assert(t, icmd.Expected{ExitCode: 1, Err: "is not a workspace's"})
	s.ws("rm", "-f", other).Assert(t, icmd.Expected{ExitCode: 1, Err: "is not a workspace's"})

	// exec needs the node's engine label: without it, an error that says so.
	s.ws("ensure", a).Assert(t, icmd.Success)
	node := s.nodeOf(a)
	s.docker("--context", "swarm", "node", "update", "--label-rm", "docker-workspace.engine", node).Assert(t, icmd.Success)
	t.Cleanup(func() {
		s.docker("--context", "swarm", "node", "update", "--label-add", "docker-workspace.engine="+node, node).Assert(t, icmd.Success)
	})
	s.ws("exec", a, "true").Assert(t, icmd.Expected{ExitCode: 1,
		Err: "node " + node + ": service " + containerName(a) + " runs there, and it has no docker-workspace.engine label"})
	s.ws("doctor").Assert(t, icmd.Expected{Out: "Node " + node})
}

// Pinned: the node of a workspace dies → Swarm runs it nowhere else (no
// second container, no empty workspace); ls says its container may still
// run there; when the node is back, the workspace is too, with its data.
func TestSwarmPinnedNodeFailure(t *testing.T) {
	s := newSwarmHarness(t)
	// A workspace on a worker: killing the manager would stop the Swarm.
	var a, node string
	for i := range 6 {
		a = s.subdir(fmt.Sprintf("-p%d", i))
		s.ws("ensure", a).Assert(t, icmd.Success)
		if node = s.nodeOf(a); node != "sw1" {
			break
		}
	}
	assert.Assert(t, node != "sw1", "every workspace landed on the manager")
	s.ws("exec", a, "sh", "-c", "echo kept > f").Assert(t, icmd.Success)

	swarmNode(t, "kill", node)
	waitNodeState(t, s, node, "Down")
	// Swarm has given up the task: nothing runs elsewhere, by Swarm's
	// account and by each other node's engine.
	time.Sleep(3 * time.Second)
	for _, other := range swarmNodes {
		if other != node {
			assert.Check(t, is.Len(s.containersOf(other, a, ""), 0), "a container of %s on %s", a, other)
		}
	}
	assert.Check(t, is.Len(s.runningTasks(containerName(a)), 0))
	res := s.ws("ls", "--filter", "subdir="+a, "--format", "{{.Node}} {{.State}}")
	res.Assert(t, icmd.Expected{Out: node + " pending", Err: "a container may still run on node " + node + ", which is down"})
	s.ws("doctor").Assert(t, icmd.Expected{Out: "a container may still run on node " + node})

	swarmNode(t, "start", node)
	waitNodeState(t, s, node, "Ready")
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if got := s.runningTasks(containerName(a)); len(got) == 1 && got[0] == node {
			return poll.Success()
		}
		return poll.Continue("the workspace is not back on %s", node)
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(time.Second))
	s.ws("ensure", "--format", "{{.Action}}", a).Assert(t, icmd.Expected{Out: "running"})
	assert.Check(t, is.Equal(s.nodeOf(a), node))
	s.ws("exec", a, "cat", "f").Assert(t, icmd.Expected{Out: "kept"})
}

// Shared: the volumes name one storage for every node (a host directory
// here, standing in for NFS); when the node of a workspace dies, Swarm
// moves it with its data, and ls and doctor say that the old container may
// still run on the dead node until that node is back.
func TestSwarmSharedFailover(t *testing.T) {
	store := filepath.Join(os.TempDir(), "e2e-swarm-store-"+fmt.Sprint(time.Now().UnixNano()))
	for _, d := range []string{"ws", "sh"} {
		assert.NilError(t, os.MkdirAll(filepath.Join(store, d), 0o700))
	}
	t.Cleanup(func() { os.RemoveAll(store) })
	s := newSwarmHarness(t, "GATEWAY_WORKSPACE_PLACEMENT=shared",
		"GATEWAY_WORKSPACE_VOLUME_OPTS=type=none,o=bind,device="+filepath.Join(store, "ws"),
		"GATEWAY_SHARED_VOLUME_OPTS=type=none,o=bind,device="+filepath.Join(store, "sh"))
	a := s.subdir("-s")
	s.ws("ensure", a).Assert(t, icmd.Success)
	name := containerName(a)
	s.docker("--context", "swarm", "service", "inspect", "--format", `{{index .Spec.Labels "docker-workspace.placement"}}`, name).
		Assert(t, icmd.Expected{Out: "shared"})
	// Keep it off the manager, whose death would stop the Swarm (the
	// constraint is the test's, not part of the workspace's spec).
	s.docker("--context", "swarm", "service", "update", "--detach", "--constraint-add", "node.role==worker", name).Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		state := strings.TrimSpace(s.docker("--context", "swarm", "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", name).Stdout())
		if got := s.runningTasks(name); len(got) == 1 && got[0] != "sw1" && (state == "" || state == "completed") {
			return poll.Success()
		}
		return poll.Continue("the update has not settled on a worker (%s)", state)
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(500*time.Millisecond))
	first := s.nodeOf(a)
	s.ws("exec", a, "sh", "-c", "echo kept > f").Assert(t, icmd.Success)
	data, err := os.ReadFile(filepath.Join(store, "ws", a, "f"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "kept\n"), "not in the shared storage")

	swarmNode(t, "kill", first)
	waitNodeState(t, s, first, "Down")
	var second string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if got := s.runningTasks(name); len(got) == 1 && got[0] != first {
			second = got[0]
			return poll.Success()
		}
		return poll.Continue("not moved yet")
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(time.Second))
	t.Logf("moved from %s to %s", first, second)
	// The old container outlives its node's engine: ls and doctor say so.
	res := s.ws("ls", "--filter", "subdir="+a, "--format", "{{.Node}} {{.State}}")
	res.Assert(t, icmd.Expected{Out: second + " running", Err: "a container may still run on node " + first + ", which is down"})
	s.ws("doctor").Assert(t, icmd.Expected{Out: "a container may still run on node " + first})
	s.ws("exec", a, "cat", "f").Assert(t, icmd.Expected{Out: "kept"})

	// Back: its engine ends the old container; the warning goes.
	swarmNode(t, "start", first)
	waitNodeState(t, s, first, "Ready")
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := s.ws("ls", "--filter", "subdir="+a)
		if res.ExitCode == 0 && !strings.Contains(res.Stderr(), "may still run") {
			return poll.Success()
		}
		return poll.Continue("ls still warns: %s", res.Stderr())
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(time.Second))
	assert.Check(t, is.Len(s.containersOf(first, a, "running"), 0))
}

// swarmNode kills or starts a node's engine (scripts/engines.sh swarm-node).
func swarmNode(t *testing.T, what, node string) {
	t.Helper()
	out, err := exec.Command("bash", "../scripts/engines.sh", "swarm-node", what, nodeIndex(node)).CombinedOutput()
	assert.NilError(t, err, "swarm-node %s %s: %s", what, node, out)
	if what == "kill" {
		// Whatever happens to the test, the node comes back.
		t.Cleanup(func() {
			_ = exec.Command("bash", "../scripts/engines.sh", "swarm-node", "start", nodeIndex(node)).Run()
		})
	}
}

// waitNodeState waits until the manager reports a node's state.
func waitNodeState(t *testing.T, s *swarmHarness, node, state string) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		got := strings.TrimSpace(s.docker("--context", "swarm", "node", "inspect", "--format", "{{.Status.State}}", node).Stdout())
		if strings.EqualFold(got, state) {
			return poll.Success()
		}
		return poll.Continue("node %s is %s", node, got)
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(500*time.Millisecond))
}

// The attacks of the Swarm attack round, each a case that must fail.
func TestSwarmAttacksAreRefused(t *testing.T) {
	s := newSwarmHarness(t)

	// Nested workspaces ensured at once, by two processes: one of each
	// pair is made, the other refused; later, refused too. Named in one
	// call, they are refused before anything is made (new-user pass 12).
	for round := range 3 {
		outer := s.subdir(fmt.Sprintf("-n%d", round))
		res := make([]*icmd.Result, 2)
		var wg sync.WaitGroup
		for i, sub := range []string{outer, outer + "/bob"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = s.ws("ensure", "--format", "{{.Subdir}}", sub)
			}()
		}
		wg.Wait()
		made := strings.Fields(res[0].Stdout() + res[1].Stdout())
		assert.Check(t, is.Len(made, 1), "round %d: %s %s", round, res[0].Combined(), res[1].Combined())
		assert.Check(t, is.Contains(res[0].Stderr()+res[1].Stderr(), "would nest with workspace"), "round %d", round)
	}
	one := s.subdir("-one")
	s.ws("ensure", one, one+"/bob").Assert(t, icmd.Expected{ExitCode: 125, Err: "is inside"})
	team := s.subdir("-team")
	s.ws("ensure", team).Assert(t, icmd.Success)
	s.ws("ensure", team+"/bob").Assert(t, icmd.Expected{ExitCode: 1, Err: `would nest with workspace "` + team + `"`})

	// A standalone container of a workspace that runs as a task, made on
	// the task's node's engine: refused; rm there does not kill the task.
	node := s.nodeOf(team)
	engine := s.withEnv("GATEWAY_WORKSPACE_ORCHESTRATOR=engine")
	engine.docker("--context", node, "workspace", "ensure", team).Assert(t, icmd.Expected{ExitCode: 1, Err: "as a task of Swarm service " + containerName(team)})
	engine.docker("--context", node, "workspace", "rm", "-f", team).Assert(t, icmd.Success)
	assert.Check(t, is.Len(s.containersOf(node, team, "running"), 1))
	assert.Check(t, is.Len(s.runningTasks(containerName(team)), 1))

	// The service stopped (scaled to 0) and its task's container gone: no
	// container tells the node's engine that the Swarm runs the workspace,
	// its record does (issue 17, 9). Nothing is made there.
	s.ws("stop", team).Assert(t, icmd.Success)
	all := func() []string {
		return strings.Fields(s.docker("--context", node, "ps", "-aq", "--filter", "label=docker-workspace.subdir="+team).Stdout())
	}
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if ids := all(); len(ids) > 0 {
			s.docker(append([]string{"--context", node, "rm", "-f"}, ids...)...)
			return poll.Continue("the task's container on %s", node)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second))
	engine.docker("--context", node, "workspace", "ensure", team).Assert(t, icmd.Expected{ExitCode: 1, Err: `a Swarm runs workspace "` + team + `"`})
	assert.Check(t, is.Len(all(), 0))
	s.ws("ensure", team).Assert(t, icmd.Success)
}

// A Swarm ensure of x racing engine-mode ensures of x/y on every node's
// engine (issue 17, 4): on the node that the Swarm prepared x on (its own
// volume), never both. The engine ensures start at random moments of the
// Swarm's, so that some land in each of its steps.
func TestSwarmRacingANodesEngine(t *testing.T) {
	s := newSwarmHarness(t)
	engine := s.withEnv("GATEWAY_WORKSPACE_ORCHESTRATOR=engine")
	made, both := 0, 0
	for round := range 6 {
		x := s.subdir(fmt.Sprintf("-r%d", round))
		sw := icmd.StartCmd(icmd.Cmd{Command: []string{"docker", "--config", env.configDir, "--context", "swarm", "workspace", "ensure", x}, Env: s.env})
		var wg sync.WaitGroup
		for i, n := range swarmNodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration((round*7+i*5)%12) * 150 * time.Millisecond)
				engine.docker("--context", n, "workspace", "ensure", x+"/y")
			}()
		}
		wg.Wait()
		if icmd.WaitOnCmd(time.Minute, sw).ExitCode != 0 {
			continue
		}
		made++
		node := s.nodeOf(x)
		if ids := strings.Fields(s.docker("--context", node, "ps", "-aq", "--filter", "name=^/"+containerName(x+"/y")+"$").Stdout()); len(ids) > 0 {
			both++
			t.Errorf("round %d: the Swarm made %s on %s, where the engine made %s/y too", round, x, node, x)
		}
		for _, n := range swarmNodes {
			s.docker("--context", n, "rm", "-f", containerName(x+"/y"))
		}
	}
	t.Logf("%d rounds of 6 made x on the Swarm; both made in %d", made, both)
}

// Shared placement: a volume of the name made otherwise on a node is
// refused (the engine would mount it as it is); bind volumes' directories
// that others could redirect or enter, or that overlap, are refused.
func TestSwarmSharedVolumesAreChecked(t *testing.T) {
	store := filepath.Join(os.TempDir(), "e2e-swarm-chk-"+fmt.Sprint(time.Now().UnixNano()))
	assert.NilError(t, os.MkdirAll(filepath.Join(store, "ws"), 0o700))
	assert.NilError(t, os.MkdirAll(filepath.Join(store, "sh"), 0o700))
	t.Cleanup(func() { os.RemoveAll(store) })
	opts := func(ws, sh string) []string {
		return []string{"GATEWAY_WORKSPACE_PLACEMENT=shared",
			"GATEWAY_WORKSPACE_VOLUME_OPTS=type=none,o=bind,device=" + ws,
			"GATEWAY_SHARED_VOLUME_OPTS=type=none,o=bind,device=" + sh}
	}
	s := newSwarmHarness(t, opts(filepath.Join(store, "ws"), filepath.Join(store, "sh"))...)
	a := s.subdir("-v")

	// A plain volume of the workspace volume's name on sw2.
	s.docker("--context", "sw2", "volume", "create", s.wsVol).Assert(t, icmd.Success)
	s.ws("ensure", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "on node sw2: volume " + s.wsVol + " exists with driver local and options (none)"})
	s.docker("--context", "sw2", "volume", "rm", s.wsVol).Assert(t, icmd.Success)

	// Overlapping directories: refused before anything is asked.
	overlap := s.withEnv(opts(store, filepath.Join(store, "sh"))...)
	overlap.docker("--context", "swarm", "workspace", "ensure", a).Assert(t, icmd.Expected{ExitCode: 125, Err: "overlaps the workspace volume's"})

	// A directory in one a local user owns (they could swap it for a
	// symlink), and one every local user can enter (they could read the
	// workspaces, or run what a tenant leaves setuid).
	open := filepath.Join(store, "open")
	for _, d := range []string{store, open, filepath.Join(open, "ws"), filepath.Join(open, "sh")} {
		assert.NilError(t, os.MkdirAll(d, 0o755))
		assert.NilError(t, os.Chmod(d, 0o755))
	}
	entered := s.withEnv(opts(filepath.Join(open, "ws"), filepath.Join(open, "sh"))...)
	entered.docker("--context", "swarm", "workspace", "ensure", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "closed to other users"})
	assert.NilError(t, os.Chmod(filepath.Join(open, "ws"), 0o700))
	assert.NilError(t, os.Chown(open, 1000, 1000))
	entered.docker("--context", "swarm", "workspace", "ensure", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "is owned by uid 1000"})
	assert.NilError(t, os.Chmod(store, 0o700))

	// As it should be: made.
	s.ws("ensure", a).Assert(t, icmd.Success)
	s.docker("--context", "swarm", "service", "inspect", containerName(a)).Assert(t, icmd.Success)
}

// A node whose Engine ignores volume subpaths (sw4, Engine 20.10) never
// runs a workspace: it never gets the label that every workspace service
// is constrained to, and a task that only it could take stays pending;
// doctor says why.
func TestSwarmOldEngineNodeGetsNoWorkspace(t *testing.T) {
	requireEngine(t, "sw4")
	s := newSwarmHarness(t)
	a := s.subdir("-old")
	s.ws("ensure", a).Assert(t, icmd.Success)
	s.docker("--context", "swarm", "node", "inspect", "--format", `{{index .Spec.Labels "docker-workspace.subpath"}}`, "sw4").
		Assert(t, icmd.Expected{Out: ""})
	assert.Check(t, is.Equal(strings.TrimSpace(s.docker("--context", "swarm", "node", "inspect", "--format", `{{index .Spec.Labels "docker-workspace.subpath"}}`, "sw2").Stdout()), "true"))
	s.ws("doctor").Assert(t, icmd.Expected{Out: "Node sw4:         worker, ready, active, Engine 20.10"})
	s.ws("doctor").Assert(t, icmd.Expected{Out: "no workspaces: Engine before 26.1 does not apply a volume subpath in a task"})

	// Swarm is told that sw4 alone may run it (the test's constraint,
	// as if the others were gone): the task stays pending.
	name := containerName(a)
	s.docker("--context", "swarm", "service", "update", "--detach", "--constraint-add", "node.hostname==sw4", name).Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		out := s.docker("--context", "swarm", "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}} {{.Error}}", name).Stdout()
		if strings.Contains(out, "Pending") {
			return poll.Success()
		}
		return poll.Continue("no pending task: %s", out)
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(500*time.Millisecond))
	time.Sleep(3 * time.Second)
	assert.Check(t, is.Len(s.containersOf("sw4", a, ""), 0), "a workspace container on the old Engine")
	assert.Check(t, is.Len(s.runningTasks(name), 0))
	s.ws("ls", "--filter", "subdir="+a, "--format", "{{.State}}").Assert(t, icmd.Expected{Out: "pending"})
}

// The second Swarm attack round's cases: two volume names of one directory
// (nested workspaces ensured at once through each), a Swarm ensure racing
// an engine's ensure of a nested workspace on a node, and a shared
// directory that is another configuration's workspace.
func TestSwarmStoragesAreCompared(t *testing.T) {
	store := filepath.Join(os.TempDir(), "e2e-swarm-stor-"+fmt.Sprint(time.Now().UnixNano()))
	for _, d := range []string{"dev", "dev2", "shared", "other", "other-shared"} {
		assert.NilError(t, os.MkdirAll(filepath.Join(store, d), 0o700))
	}
	t.Cleanup(func() { os.RemoveAll(store) })
	env := func(vol, dev, shared string) []string {
		return []string{"GATEWAY_WORKSPACE_PLACEMENT=shared", "GATEWAY_WORKSPACE_DOCKER_VOLUME=" + vol,
			"GATEWAY_WORKSPACE_VOLUME_OPTS=type=none,o=bind,device=" + filepath.Join(store, dev),
			"GATEWAY_SHARED_VOLUME_OPTS=type=none,o=bind,device=" + filepath.Join(store, shared)}
	}
	s := newSwarmHarness(t, env("e2e-stor-v1-x", "dev", "shared")...)
	v1 := s.withEnv(env("e2e-stor-v1-"+s.id, "dev", "shared")...)
	v2 := s.withEnv(env("e2e-stor-v2-"+s.id, "dev", "shared")...)
	s.volumes = append(s.volumes, "e2e-stor-v1-"+s.id, "e2e-stor-v2-"+s.id, "e2e-stor-v3-"+s.id, "e2e-stor-v5-"+s.id)
	for round := range 3 {
		outer := s.subdir(fmt.Sprintf("-x%d", round))
		var wg sync.WaitGroup
		var r1, r2 *icmd.Result
		wg.Add(2)
		go func() { defer wg.Done(); r1 = v1.docker("--context", "swarm", "workspace", "ensure", outer) }()
		go func() { defer wg.Done(); r2 = v2.docker("--context", "swarm", "workspace", "ensure", outer+"/bob") }()
		wg.Wait()
		// Never both (neither, when the claimed-first one is then refused
		// for its volume's name: the other gave way to its claim).
		assert.Check(t, r1.ExitCode != 0 || r2.ExitCode != 0, "round %d: both made: %s | %s", round, r1.Stderr(), r2.Stderr())
	}

	// A Swarm ensure and, on a node, an engine's ensure of a nested one.
	for round := range 3 {
		outer := s.subdir(fmt.Sprintf("-e%d", round))
		engine := v1.withEnv("GATEWAY_WORKSPACE_ORCHESTRATOR=engine", "GATEWAY_WORKSPACE_PLACEMENT=")
		var wg sync.WaitGroup
		var r1, r2 *icmd.Result
		wg.Add(2)
		go func() { defer wg.Done(); r1 = v1.docker("--context", "swarm", "workspace", "ensure", outer) }()
		go func() {
			defer wg.Done()
			r2 = engine.docker("--context", "sw2", "workspace", "ensure", outer+"/bob")
		}()
		wg.Wait()
		t.Cleanup(func() { s.docker("--context", "sw2", "rm", "-f", "-v", containerName(outer+"/bob")) })
		assert.Check(t, r1.ExitCode != 0 || r2.ExitCode != 0, "round %d: both made: %s | %s", round, r1.Stderr(), r2.Stderr())
	}

	// A shared directory that is a workspace of another configuration.
	solo := s.subdir("-solo")
	v5 := s.withEnv(env("e2e-stor-v5-"+s.id, "dev2", "shared")...)
	v5.docker("--context", "swarm", "workspace", "ensure", solo).Assert(t, icmd.Success)
	v3 := s.withEnv(env("e2e-stor-v3-"+s.id, "other", filepath.Join("dev2", solo))...)
	v3.docker("--context", "swarm", "workspace", "ensure", s.subdir("-cb")).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "that meets the workspaces' storage of workspace"})
}

// The third Swarm attack round's cases: an overlay volume over host
// directories; engine mode making workspaces of a storage that a Swarm's
// nodes share; a shared directory in another configuration's workspaces;
// a second volume name of one directory on a node.
func TestSwarmVolumesOverHostPathsAreRefused(t *testing.T) {
	store := filepath.Join(os.TempDir(), "e2e-swarm-host-"+fmt.Sprint(time.Now().UnixNano()))
	for _, d := range []string{"ws", "sh", "lo", "wk"} {
		assert.NilError(t, os.MkdirAll(filepath.Join(store, d), 0o700))
	}
	t.Cleanup(func() { os.RemoveAll(store) })
	s := newSwarmHarness(t, "GATEWAY_WORKSPACE_PLACEMENT=shared",
		"GATEWAY_WORKSPACE_VOLUME_OPTS=type=none,o=bind,device="+filepath.Join(store, "ws"),
		"GATEWAY_SHARED_VOLUME_OPTS=type=none,o=bind,device="+filepath.Join(store, "sh"))
	a := s.subdir("-h")

	// An overlay over host directories, a block device: refused first.
	s.ws("ensure", "--volume-opt", "type=overlay", "--volume-opt", "device=overlay",
		"--volume-opt", "o=lowerdir=/srv,upperdir="+filepath.Join(store, "ws")+",workdir="+filepath.Join(store, "wk"), a).
		Assert(t, icmd.Expected{ExitCode: 125, Err: "a local volume over host directories (lowerdir="})
	s.ws("ensure", "--volume-opt", "type=ext4", "--volume-opt", "device=/dev/vda", a).
		Assert(t, icmd.Expected{ExitCode: 125, Err: "type=ext4: a local volume of that type mounts host storage"})
	// A directory with ".." after a part a local user could make a
	// symlink (the kernel resolves ".." after it): refused on Swarm and on
	// one engine, as written.
	dotdot := "GATEWAY_SHARED_VOLUME_OPTS=type=none,o=bind,device=/tmp/e2e-lnk-" + s.id + "/../" + filepath.Base(store) + "/sh"
	s.withEnv(dotdot).docker("--context", "swarm", "workspace", "ensure", a).Assert(t, icmd.Expected{ExitCode: 125, Err: "must be a clean path"})
	s.withEnv(dotdot, "GATEWAY_WORKSPACE_ORCHESTRATOR=engine", "GATEWAY_WORKSPACE_PLACEMENT=").
		docker("--context", "modern", "workspace", "ensure", a).Assert(t, icmd.Expected{ExitCode: 125, Err: "must be a clean path"})

	// Engine mode, on a node, with a storage the nodes may share.
	engine := s.withEnv("GATEWAY_WORKSPACE_ORCHESTRATOR=engine", "GATEWAY_WORKSPACE_PLACEMENT=")
	engine.docker("--context", "sw2", "workspace", "ensure", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "this engine is a node of a Swarm"})

	// A shared directory in the workspaces of a bind-mode root (it holds
	// their records).
	root := filepath.Join(store, "root")
	s.withEnv("GATEWAY_WORKSPACE_ORCHESTRATOR=engine", "GATEWAY_WORKSPACE_MOUNT_MODE=bind", "GATEWAY_WORKSPACE_ROOT="+root,
		"GATEWAY_SHARED_DIR="+filepath.Join(store, "bind-shared"), "GATEWAY_WORKSPACE_VOLUME_OPTS=", "GATEWAY_SHARED_VOLUME_OPTS=", "GATEWAY_WORKSPACE_PLACEMENT=").
		docker("--context", "modern", "workspace", "ensure", s.track(s.subdir("-eve"))).Assert(t, icmd.Success)
	inRoot := s.withEnv("GATEWAY_SHARED_VOLUME_OPTS=type=none,o=bind,device=" + filepath.Join(root, s.subdir("-eve")))
	inRoot.docker("--context", "swarm", "workspace", "ensure", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "the root of other workspaces"})

	// A volume of another name on the workspace volume's directory.
	alias := "e2e-alias-" + s.id
	s.docker("--context", "sw1", "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device="+filepath.Join(store, "ws"), alias).Assert(t, icmd.Success)
	t.Cleanup(func() { s.docker("--context", "sw1", "volume", "rm", "-f", alias) })
	s.ws("ensure", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "that meets that of volume " + alias})
	s.docker("--context", "sw1", "volume", "rm", alias).Assert(t, icmd.Success)
	s.ws("ensure", a).Assert(t, icmd.Success)

	// A volume above another configuration's root does not reach its
	// workspaces through it (issue 17, 2): the walk on the node refuses a
	// directory that holds records.
	above := filepath.Join(store, "above")
	assert.NilError(t, os.MkdirAll(filepath.Join(above, "root"), 0o700))
	other := s.subdir("-other")
	t.Cleanup(func() { s.docker("--context", "modern", "rm", "-f", containerName(other)) }) // made on one engine, not the Swarm
	s.withEnv("GATEWAY_WORKSPACE_ORCHESTRATOR=engine", "GATEWAY_WORKSPACE_MOUNT_MODE=bind", "GATEWAY_WORKSPACE_ROOT="+filepath.Join(above, "root"),
		"GATEWAY_SHARED_DIR="+filepath.Join(store, "bind-shared-2"), "GATEWAY_WORKSPACE_VOLUME_OPTS=", "GATEWAY_SHARED_VOLUME_OPTS=", "GATEWAY_WORKSPACE_PLACEMENT=").
		docker("--context", "modern", "workspace", "ensure", other).Assert(t, icmd.Success)
	aboveVol := "e2e-above-" + s.id
	s.volumes = append(s.volumes, aboveVol)
	through := s.track(filepath.Join("root", other))
	s.withEnv("GATEWAY_WORKSPACE_DOCKER_VOLUME="+aboveVol, "GATEWAY_WORKSPACE_VOLUME_OPTS=type=none,o=bind,device="+above).
		docker("--context", "swarm", "workspace", "ensure", through).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "holds .docker-workspace: it is the root of other workspaces"})
	s.docker("--context", "swarm", "service", "inspect", containerName(through)).Assert(t, icmd.Expected{ExitCode: 1})
	// Nor a volume whose directory is that root itself (attack on issue
	// 17: B2): its records are not the volume's.
	onRoot := "e2e-onroot-" + s.id
	s.volumes = append(s.volumes, onRoot)
	for _, n := range swarmNodes { // else its storage holds the next one's
		s.docker("--context", n, "volume", "rm", "-f", aboveVol)
	}
	s.withEnv("GATEWAY_WORKSPACE_DOCKER_VOLUME="+onRoot, "GATEWAY_WORKSPACE_VOLUME_OPTS=type=none,o=bind,device="+filepath.Join(above, "root")).
		docker("--context", "swarm", "workspace", "ensure", other).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "is a workspace root of bind mode (another configuration's)"})
}

// Egress on Swarm: open mode puts each workspace alone on an overlay
// network of its own (no workspace reaches another's ports), removed with
// it; the proxied modes and none are refused, with nothing made.
func TestSwarmEgress(t *testing.T) {
	s := newSwarmHarness(t)
	a, b := s.subdir("-ea"), s.subdir("-eb")
	for _, mode := range []string{"none", "allowlist", "public"} {
		s.ws("ensure", "--egress", mode, a).Assert(t, icmd.Expected{ExitCode: 125, Err: "egress mode " + mode})
	}
	s.docker("--context", "swarm", "service", "inspect", containerName(a)).Assert(t, icmd.Expected{ExitCode: 1})
	s.ws("ensure", a, b).Assert(t, icmd.Success)
	netA := "gwsnet-" + strings.TrimPrefix(containerName(a), "gws-")
	s.docker("--context", "swarm", "network", "inspect", "-f", "{{.Driver}}", netA).Assert(t, icmd.Expected{Out: "overlay"})

	s.ws("exec", "-d", b, "sh", "-c", "while true; do echo secret-of-b | nc -l -p 8080; done").Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if strings.Contains(s.ws("exec", b, "sh", "-c", "nc -w 2 127.0.0.1 8080 </dev/null").Stdout(), "secret-of-b") {
			return poll.Success()
		}
		return poll.Continue("b's listener does not answer yet")
	}, poll.WithTimeout(30*time.Second))
	node := s.nodeOf(b)
	addrs := s.docker("--context", node, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", s.containersOf(node, b, "running")[0]).Assert(t, icmd.Success).Stdout()
	assert.Assert(t, len(strings.Fields(addrs)) > 0)
	for _, ip := range strings.Fields(addrs) {
		res := s.ws("exec", a, "sh", "-c", "nc -w 2 "+ip+" 8080 </dev/null")
		assert.Check(t, !strings.Contains(res.Stdout(), "secret"), "a reaches b at %s: %s", ip, res.Combined())
	}
	s.ws("rm", "-f", a).Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if s.docker("--context", "swarm", "network", "inspect", netA).ExitCode == 0 {
			return poll.Continue("network %s is still there", netA)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second))
}

// Naming a workspace holds on Swarm (issue 22, 1): the service IDs `ls -q`
// prints and gws- names resolve for stop, exec, cp and rm.
func TestSwarmNamesAndIDs(t *testing.T) {
	s := newSwarmHarness(t)
	a := s.subdir("-id")
	s.ws("ensure", a).Assert(t, icmd.Success)
	id := strings.TrimSpace(s.ws("ls", "-q", "--filter", "subdir="+a).Assert(t, icmd.Success).Stdout())
	assert.Assert(t, id != "")
	// CreatedAt is to the second, as on one engine (issue 22, Low).
	created := s.ws("ls", "--filter", "subdir="+a, "--format", "{{.CreatedAt}}").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Regexp(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\n$`, created))
	s.ws("stop", id).Assert(t, icmd.Expected{Out: id})
	s.ws("ls", "--filter", "subdir="+a, "--format", "{{.State}}").Assert(t, icmd.Expected{Out: "stopped"})
	s.ws("ensure", a).Assert(t, icmd.Success)
	s.ws("exec", "--no-ensure", containerName(a), "true").Assert(t, icmd.Success)
	s.ws("exec", "--no-ensure", id, "sh", "-c", "echo hi > /home/agent/workspace/f").Assert(t, icmd.Success)
	s.ws("cp", containerName(a)+":f", "-").Assert(t, icmd.Success)
	// Its task's container exits (a tenant's kill 1): exec ensures it again
	// and runs, as on one engine (issue 17, Low).
	for round := range 2 {
		node := s.nodeOf(a)
		running := s.containersOf(node, a, "running")
		assert.Assert(t, is.Len(running, 1), "round %d", round)
		s.docker("--context", node, "kill", running[0]).Assert(t, icmd.Success)
		s.ws("exec", a, "cat", "/home/agent/workspace/f").Assert(t, icmd.Expected{Out: "hi"})
	}
	// update is a service update (issue 18): the limits are the service's,
	// its labels record them (no drift for the new ones), the data stays.
	s.ws("update", "--memory", "96m", "--pids-limit", "100", id).Assert(t, icmd.Expected{Out: id})
	s.docker("--context", "swarm", "service", "inspect", "-f", "{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{.Spec.TaskTemplate.Resources.Limits.Pids}}",
		containerName(a)).Assert(t, icmd.Expected{Out: "100663296 100"})
	s.ws("ensure", "--memory", "96m", "--pids-limit", "100", "--format", "{{.Drift}}", a).Assert(t, icmd.Expected{Out: "[]"})
	// stats asks the task's node (issue 18).
	res := s.ws("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", a)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), containerName(a)+" "))
	assert.Check(t, is.Contains(res.Stdout(), " / 96MiB\n"))
	s.ws("exec", a, "cat", "/home/agent/workspace/f").Assert(t, icmd.Expected{Out: "hi"})
	// A stopped one has its row and no error, as on one engine (new-user
	// pass 11).
	s.ws("stop", a).Assert(t, icmd.Success)
	s.ws("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", a).Assert(t, icmd.Success)
	s.ws("rm", "-f", id).Assert(t, icmd.Success)
	s.docker("--context", "swarm", "service", "inspect", containerName(a)).Assert(t, icmd.Expected{ExitCode: 1})
	// A name that names no workspace is an error (with -f, said, as
	// docker rm -f says it).
	s.ws("rm", containerName(a)).Assert(t, icmd.Expected{ExitCode: 1, Err: "no such workspace: " + containerName(a)})
	s.ws("rm", "-f", containerName(a)).Assert(t, icmd.Expected{ExitCode: 0, Err: "no such workspace: " + containerName(a)})
	s.ws("stop", containerName(a)).Assert(t, icmd.Expected{ExitCode: 1, Err: "no such workspace: " + containerName(a)})
}
