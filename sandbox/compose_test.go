package sandbox

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func projectVolume(project, name string) volume.Volume {
	return volume.Volume{Name: project + "_" + name, Labels: map[string]string{composeProjectLabel: project, composeVolumeLabel: name}}
}

func TestResolveCompose(t *testing.T) {
	f := engine(nil)
	f.volumes = []volume.Volume{projectVolume("gw", "workspaces"), projectVolume("other", "shared"), {Name: "ext-shared"}}
	f.networks = []network.Summary{{Name: "gw_agents", Labels: map[string]string{composeProjectLabel: "gw", composeNetworkLabel: "agents"}}}
	cfg := volumeConfig()
	cfg.ComposeProject = "gw"
	cfg.WorkspaceVolume, cfg.SharedVolume, cfg.Network = "workspaces", "ext-shared", "agents"
	assert.NilError(t, NewManager(f).ResolveCompose(context.Background(), &cfg))
	assert.Check(t, is.Equal(cfg.WorkspaceVolume, "gw_workspaces"))
	assert.Check(t, is.Equal(cfg.SharedVolume, "ext-shared"), "an external volume is used as is")
	assert.Check(t, is.Equal(cfg.Network, "gw_agents"))

	// "shared" is a volume of another project only: not on this engine.
	cfg = volumeConfig()
	cfg.ComposeProject = "gw"
	cfg.WorkspaceVolume, cfg.SharedVolume = "workspaces", "shared"
	err := NewManager(f).ResolveCompose(context.Background(), &cfg)
	assert.Check(t, is.ErrorIs(err, ErrNotOnEngine))
	assert.Check(t, is.ErrorContains(err, `volume "shared" is neither a volume of Compose project "gw" nor an existing (external) volume on this engine`))

	// Without a project, or for built-in networks, nothing is looked up.
	f = engine(nil)
	cfg = volumeConfig()
	assert.NilError(t, NewManager(f).ResolveCompose(context.Background(), &cfg))
	cfg = bindConfig(t)
	cfg.ComposeProject, cfg.Network = "gw", "bridge"
	assert.NilError(t, NewManager(f).ResolveCompose(context.Background(), &cfg))
	assert.Check(t, is.Equal(f.callList(), ""))
}

func TestComposeProjectIdentity(t *testing.T) {
	cfg := bindConfig(t)
	cfg.ComposeProject = "one"
	ctr := ours("a", cfg, container.StateRunning)
	ctr.Config.Labels[LabelComposeProject] = "one"

	f := engine(states(&ctr))
	res, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Action, ActionRunning))
	assert.Check(t, is.Len(res.Drift, 0))

	other := cfg
	other.ComposeProject = "two"
	f = engine(states(&ctr))
	_, err = NewManager(f).Ensure(context.Background(), "a", other)
	assert.Check(t, is.ErrorIs(err, ErrNotThisWorkspace))
	assert.Check(t, is.ErrorContains(err, `belongs to Compose project "one", not "two"`))

	// down of another project leaves the container alone.
	f = engine(states(&ctr))
	removed, err := NewManager(f).RemoveForProject(context.Background(), "two", "a")
	assert.Check(t, !removed && err == nil)
	removed, err = NewManager(f).RemoveForProject(context.Background(), "one", "a")
	assert.Check(t, removed && err == nil)
	assert.Check(t, is.Equal(f.callList(), "inspect:gws-a inspect:gws-a remove:id-gws-a"))
}

func TestCreateLabelsComposeProject(t *testing.T) {
	cfg := bindConfig(t)
	cfg.ComposeProject = "gw"
	f := newFakeEngine()
	_, err := NewManager(f).Ensure(context.Background(), "a", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.byName("gws-a").cfg.Labels[LabelComposeProject], "gw"))
}

// compose stop and down touch only the project's container.
func TestStopForProject(t *testing.T) {
	cfg := bindConfig(t)
	cfg.ComposeProject = "one"
	f := newFakeEngine()
	c := placed(t, f, "a", cfg, container.StateRunning)
	c.cfg.Labels[LabelComposeProject] = "one"
	found, err := NewManager(f).StopForProject(context.Background(), "two", "a", StopOptions{})
	assert.Check(t, !found && err == nil)
	assert.Check(t, is.Equal(c.state, container.StateRunning))
	found, err = NewManager(f).StopForProject(context.Background(), "one", "a", StopOptions{})
	assert.Check(t, found && err == nil)
	assert.Check(t, is.Equal(c.state, container.StateExited))
}

// A workspace made for a Compose project carries Compose's labels: the
// service is the one given, else the container's name without gws-.
func TestEnsureForAComposeProjectCarriesComposeLabels(t *testing.T) {
	cfg := bindConfig(t)
	cfg.ComposeProject = "gw"
	f := newFakeEngine()
	_, err := NewManager(f).Ensure(context.Background(), "team/alice", cfg)
	assert.NilError(t, err)
	labels := f.byName("gws-team-alice").cfg.Labels
	assert.Check(t, is.Equal(labels[composeProjectLabel], "gw"))
	assert.Check(t, is.Equal(labels[composeServiceLabel], "team-alice"))
	assert.Check(t, is.Equal(labels[composeOneoffLabel], "False"))
	assert.Check(t, is.Equal(labels[composeNumberLabel], "1"))
	assert.Check(t, is.Equal(labels[composeHashLabel], labels[LabelConfigHash]))
	cfg.ComposeService = "alice"
	_, err = NewManager(f).Ensure(context.Background(), "bob", cfg)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(f.byName("gws-bob").cfg.Labels[composeServiceLabel], "alice"))
	// Without a project, none of them.
	cfg.ComposeProject = ""
	_, err = NewManager(f).Ensure(context.Background(), "carol", cfg)
	assert.NilError(t, err)
	_, has := f.byName("gws-carol").cfg.Labels[composeProjectLabel]
	assert.Check(t, !has)
}
