package engine

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/sandboxtest"
)

func projectVolume(project, name string) volume.Volume {
	return volume.Volume{Name: project + "_" + name, Labels: map[string]string{composeProjectLabel: project, composeVolumeLabel: name}}
}

func TestResolveCompose(t *testing.T) {
	f := sandboxtest.NewEngine()
	for _, v := range []volume.Volume{projectVolume("gw", "workspaces"), projectVolume("other", "shared"), {Name: "ext-shared"}} {
		f.AddVolume(v)
	}
	f.AddNetwork("gw_agents", map[string]string{composeProjectLabel: "gw", composeNetworkLabel: "agents"})
	cfg := volumeConfig()
	cfg.ComposeProject = "gw"
	cfg.WorkspaceVolume, cfg.SharedVolume, cfg.Network = "workspaces", "ext-shared", "agents"
	assert.NilError(t, newManager(f).ResolveCompose(context.Background(), &cfg))
	assert.Check(t, is.Equal(cfg.WorkspaceVolume, "gw_workspaces"))
	assert.Check(t, is.Equal(cfg.SharedVolume, "ext-shared"), "an external volume is used as is")
	assert.Check(t, is.Equal(cfg.Network, "gw_agents"))
	// "default" is the project's default network, not the engine's
	// default bridge (issue 22, new-user pass).
	f.AddNetwork("gw_default", map[string]string{composeProjectLabel: "gw", composeNetworkLabel: "default"})
	cfg.Network = "default"
	assert.NilError(t, newManager(f).ResolveCompose(context.Background(), &cfg))
	assert.Check(t, is.Equal(cfg.Network, "gw_default"))
	// A project of workspace services alone has none: said as such, not
	// as a project on another engine (third new-user pass).
	cfg.ComposeProject, cfg.Network = "solo", "default"
	err := newManager(f).ResolveCompose(context.Background(), &cfg)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrInvalidConfig))
	assert.Check(t, is.ErrorContains(err, `Compose project "solo" has no default network`))
	cfg.ComposeProject = "gw"

	// "shared" is a volume of another project only: not on this engine.
	cfg = volumeConfig()
	cfg.ComposeProject = "gw"
	cfg.WorkspaceVolume, cfg.SharedVolume = "workspaces", "shared"
	err = newManager(f).ResolveCompose(context.Background(), &cfg)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotOnEngine))
	assert.Check(t, is.ErrorContains(err, `volume "shared" is neither a volume of Compose project "gw" nor an existing (external) volume on this engine`))

	// Without a project, or for built-in networks, nothing is looked up.
	f = sandboxtest.NewEngine()
	cfg = volumeConfig()
	assert.NilError(t, newManager(f).ResolveCompose(context.Background(), &cfg))
	cfg = bindConfig(t)
	cfg.ComposeProject, cfg.Network = "gw", "bridge"
	assert.NilError(t, newManager(f).ResolveCompose(context.Background(), &cfg))
	assert.Check(t, is.Equal(f.Calls(), ""))
}

func TestComposeProjectIdentity(t *testing.T) {
	cfg := bindConfig(t)
	cfg.ComposeProject = "one"
	f := sandboxtest.NewEngine()
	ours(f, "a", cfg, container.StateRunning).Cfg.Labels[sandbox.LabelComposeProject] = "one"
	res, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRunning))
	assert.Check(t, is.Len(res.Drift, 0))

	// An ensure outside the project keeps the project's container as it
	// is, and never replaces it (new-user pass 9).
	outside := cfg
	outside.ComposeProject, outside.Recreate = "", sandbox.RecreateAlways
	id := f.ByName("gws-a").ID
	_, err = newManager(f).Ensure(context.Background(), "a", outside)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotThisWorkspace))
	assert.Check(t, is.ErrorContains(err, `was made for Compose project "one": an ensure outside it does not replace it`))
	assert.Check(t, is.Equal(f.ByName("gws-a").ID, id), "replaced")

	other := cfg
	other.ComposeProject = "two"
	_, err = newManager(f).Ensure(context.Background(), "a", other)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotThisWorkspace))
	assert.Check(t, is.ErrorContains(err, `belongs to Compose project "one", not "two"`))

	// A container made outside Compose (a plain ensure: no project) is
	// not taken for the service's (issue 22, 3): a hardened service must
	// not run in a plain container.
	plain := bindConfig(t)
	g := sandboxtest.NewEngine()
	ours(g, "alice", plain, container.StateRunning)
	plain.ComposeProject, plain.ReadOnly = "gw", true
	_, err = newManager(g).Ensure(context.Background(), "alice", plain)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotThisWorkspace))
	assert.Check(t, is.ErrorContains(err, `container gws-alice was not made for Compose project "gw" (it belongs to no project)`))
	assert.Check(t, is.DeepEqual(g.Names(), []string{"gws-alice:running"}))

	// down of another project leaves the container alone.
	f.CallLog = nil
	removed, err := newManager(f).RemoveForProject(context.Background(), "two", "a")
	assert.Check(t, !removed && err == nil)
	removed, err = newManager(f).RemoveForProject(context.Background(), "one", "a")
	assert.Check(t, removed && err == nil)
	// A running one is stopped first, as Compose stops its own: no kill.
	assert.Check(t, is.Equal(f.Calls(), "inspect:gws-a inspect:gws-a stop:gws-a remove:gws-a"))
}

func TestCreateLabelsComposeProject(t *testing.T) {
	cfg := bindConfig(t)
	cfg.ComposeProject = "gw"
	f := sandboxtest.NewEngine()
	_, err := newManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.ByName("gws-a").Cfg.Labels[sandbox.LabelComposeProject], "gw"))
}

// compose stop and down touch only the project's container.
func TestStopForProject(t *testing.T) {
	cfg := bindConfig(t)
	cfg.ComposeProject = "one"
	f := sandboxtest.NewEngine()
	c := placed(t, f, "a", cfg, container.StateRunning)
	c.Cfg.Labels[sandbox.LabelComposeProject] = "one"
	found, err := newManager(f).StopForProject(context.Background(), "two", "a", sandbox.StopOptions{})
	assert.Check(t, !found && err == nil)
	assert.Check(t, is.Equal(c.State, container.StateRunning))
	found, err = newManager(f).StopForProject(context.Background(), "one", "a", sandbox.StopOptions{})
	assert.Check(t, found && err == nil)
	assert.Check(t, is.Equal(c.State, container.StateExited))
}

// A workspace made for a Compose project carries Compose's labels: the
// service is the one given, else the container's name without gws-.
func TestEnsureForAComposeProjectCarriesComposeLabels(t *testing.T) {
	cfg := bindConfig(t)
	cfg.ComposeProject = "gw"
	f := sandboxtest.NewEngine()
	_, err := newManager(f).Ensure(context.Background(), "team/alice", cfg)
	assert.NilError(t, err)
	labels := f.ByName("gws-team-alice").Cfg.Labels
	assert.Check(t, is.Equal(labels[composeProjectLabel], "gw"))
	assert.Check(t, is.Equal(labels[composeServiceLabel], "team-alice"))
	assert.Check(t, is.Equal(labels[composeOneoffLabel], "False"))
	assert.Check(t, is.Equal(labels[composeNumberLabel], "1"))
	assert.Check(t, is.Equal(labels[composeHashLabel], labels[sandbox.LabelConfigHash]))
	cfg.ComposeService = "alice"
	_, err = newManager(f).Ensure(context.Background(), "bob", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.ByName("gws-bob").Cfg.Labels[composeServiceLabel], "alice"))
	// Without a project, none of them.
	cfg.ComposeProject = ""
	_, err = newManager(f).Ensure(context.Background(), "carol", cfg)
	assert.NilError(t, err)
	_, has := f.ByName("gws-carol").Cfg.Labels[composeProjectLabel]
	assert.Check(t, !has)
}

// A service runs only in the container its own provider made: not in one
// an ensure made for its project (ensure --compose-project), nor in
// another service's; an ensure outside the service never replaces the
// container its service made (issue 22, pass 17: a hardened service was
// given a plain container made by ensure --compose-project).
func TestComposeServiceIdentity(t *testing.T) {
	plain := bindConfig(t)
	plain.ComposeProject = "gw"
	service := plain
	service.ComposeService, service.ReadOnly = "alice", true

	f := sandboxtest.NewEngine()
	_, err := newManager(f).Ensure(context.Background(), "alice", plain)
	assert.NilError(t, err)
	id := f.ByName("gws-alice").ID
	_, err = newManager(f).Ensure(context.Background(), "alice", service)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotThisWorkspace))
	assert.Check(t, is.ErrorContains(err, `container gws-alice was made for Compose project "gw" outside Compose (by docker workspace ensure), not by its service "alice"`))
	assert.Check(t, is.Equal(f.ByName("gws-alice").ID, id))

	g := sandboxtest.NewEngine()
	_, err = newManager(g).Ensure(context.Background(), "alice", service)
	assert.NilError(t, err)
	id = g.ByName("gws-alice").ID
	assert.Check(t, is.Equal(g.ByName("gws-alice").Cfg.Labels[sandbox.LabelComposeMadeBy], "alice"))
	again := plain
	again.Recreate = sandbox.RecreateAlways
	_, err = newManager(g).Ensure(context.Background(), "alice", again)
	assert.Check(t, is.ErrorIs(err, sandbox.ErrNotThisWorkspace))
	assert.Check(t, is.ErrorContains(err, `was made by service "alice" of Compose project "gw": an ensure outside the service does not replace it`))
	assert.Check(t, is.Equal(g.ByName("gws-alice").ID, id), "replaced")
	bob := service
	bob.ComposeService = "bob"
	_, err = newManager(g).Ensure(context.Background(), "alice", bob)
	assert.Check(t, is.ErrorContains(err, `container gws-alice belongs to service "alice" of Compose project "gw", not to "bob"`))
	// Its own service replaces it (up --force-recreate).
	forced := service
	forced.Recreate = sandbox.RecreateAlways
	res, err := newManager(g).Ensure(context.Background(), "alice", forced)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, sandbox.ActionRecreated))
}

// A container made before the label that names its service's provider is
// its service's when Compose's service label is not the one an ensure
// gives.
func TestComposeServiceOf(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{sandbox.LabelComposeMadeBy: "alice"}, "alice"},
		{map[string]string{sandbox.LabelComposeProject: "gw", sandbox.LabelSubdir: "team/a", sandbox.LabelComposeService: "alice"}, "alice"},
		{map[string]string{sandbox.LabelComposeProject: "gw", sandbox.LabelSubdir: "team/a", sandbox.LabelComposeService: "team-a"}, ""},
		{map[string]string{sandbox.LabelSubdir: "team/a", sandbox.LabelComposeService: "alice"}, ""},
		{map[string]string{}, ""},
	} {
		assert.Check(t, is.Equal(sandbox.ComposeServiceOf(tc.labels), tc.want), "%v", tc.labels)
	}
}
