package sandbox

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// On Swarm a workspace's ID is its service's (base 36): the 12 characters
// `ls -q` prints name it, as a container ID's prefix does (issue 22, 1).
func TestResolveServiceIDs(t *testing.T) {
	ws := []Workspace{
		{ID: "bc2iboe3wii1x9kq0lq2m3n4p", Name: "gws-x", Subdir: "x"},
		{ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Name: "gws-y", Subdir: "y"},
	}
	for ref, want := range map[string]string{
		"bc2iboe3wii1":              "x",
		"bc2iboe3wii1x9kq0lq2m3n4p": "x",
		"gws-x":                     "x",
		"x":                         "x",
		"0123456789ab":              "y",
	} {
		got := ResolveRefs([]string{ref}, ws)[0]
		assert.Check(t, got.Err, ref)
		if assert.Check(t, got.Workspace != nil, ref) {
			assert.Check(t, is.Equal(got.Workspace.Subdir, want), ref)
		}
	}
	// A shorter word is a subdir, not a prefix of an ID.
	got := ResolveRefs([]string{"bc2ib"}, ws)[0]
	assert.Check(t, got.Workspace == nil && got.Err == nil && got.Subdir == "bc2ib")
}
