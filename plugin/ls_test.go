package plugin

import (
	"testing"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker/docker/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

func listingAPI() *fakeAPI {
	created := time.Now().Add(-2 * time.Hour).Unix()
	return &fakeAPI{listFn: func(container.ListOptions) ([]container.Summary, error) {
		return []container.Summary{
			{
				ID: "b0b0b0b0b0b0b0b0b0b0", Names: []string{"/gws-team-bob"}, Image: "agent/workspace:latest",
				State: "exited", Status: "Exited (0) 5 minutes ago", Created: created,
				Labels: map[string]string{sandbox.LabelSubdir: "team/bob", sandbox.LabelMode: "volume_subpath"},
			},
			{
				ID: "a1a1a1a1a1a1a1a1a1a1", Names: []string{"/gws-alice"}, Image: "agent/workspace:latest",
				State: "running", Status: "Up 2 hours", Created: created,
				Labels: map[string]string{sandbox.LabelSubdir: "alice", sandbox.LabelMode: "bind"},
			},
		}, nil
	}}
}

func TestListTable(t *testing.T) {
	c := newTestCLI(t, listingAPI(), "")
	assert.NilError(t, c.run("ls"))
	golden.Assert(t, c.out.String(), "ls-table.golden")
}

func TestListQuiet(t *testing.T) {
	c := newTestCLI(t, listingAPI(), "")
	assert.NilError(t, c.run("ls", "-q"))
	assert.Check(t, is.Equal(c.out.String(), "a1a1a1a1a1a1\nb0b0b0b0b0b0\n"))
	c.out.Reset()
	assert.NilError(t, c.run("ls", "-q", "--no-trunc"))
	assert.Check(t, is.Equal(c.out.String(), "a1a1a1a1a1a1a1a1a1a1\nb0b0b0b0b0b0b0b0b0b0\n"))
}

func TestListJSON(t *testing.T) {
	c := newTestCLI(t, listingAPI(), "")
	assert.NilError(t, c.run("ls", "--format", "json"))
	got := jsonLines(t, c.out.String())
	assert.Assert(t, is.Len(got, 2))
	assert.Check(t, is.Equal(got[0]["Subdir"], "alice"))
	assert.Check(t, is.Equal(got[0]["Name"], "gws-alice"))
	assert.Check(t, is.Equal(got[0]["State"], "running"))
	assert.Check(t, is.Equal(got[0]["Mode"], "bind"))
	assert.Check(t, is.Equal(got[0]["RunningFor"], "2 hours ago"))
	assert.Check(t, is.Equal(got[1]["Subdir"], "team/bob"))
	assert.Check(t, is.Equal(got[1]["Mode"], "volume_subpath"))
	assert.Check(t, is.Equal(got[1]["ID"], "b0b0b0b0b0b0"))
}

func TestListTemplate(t *testing.T) {
	c := newTestCLI(t, listingAPI(), "")
	assert.NilError(t, c.run("ls", "--format", "{{.Subdir}}={{.State}}"))
	assert.Check(t, is.Equal(c.out.String(), "alice=running\nteam/bob=exited\n"))
	c.out.Reset()
	assert.NilError(t, c.run("ls", "--format", "table {{.Subdir}}\t{{.Mode}}"))
	golden.Assert(t, c.out.String(), "ls-table-custom.golden")
}
