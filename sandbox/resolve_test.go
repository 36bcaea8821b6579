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
	// A shorter word is a subdir, not a prefix of an ID; one that starts an
	// ID is said to.
	got := ResolveRefs([]string{"bc2"}, ws)[0]
	assert.Check(t, got.Workspace == nil && got.Err == nil && got.Subdir == "bc2")
	got = ResolveRefs([]string{"bc2ib"}, ws)[0]
	assert.Check(t, is.ErrorContains(got.Err, "is the start of the ID of gws-x"))
}

// A short prefix of an ID is not guessed for a workspace (a subdir of that
// name may be meant): the error says what it would name (issue 22, 6).
func TestShortIDPrefixIsNotGuessed(t *testing.T) {
	ws := []Workspace{{ID: "f6e3" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab", Name: "gws-y", Subdir: "y"}}
	got := ResolveRefs([]string{"f6e3"}, ws)[0]
	assert.Check(t, got.Workspace == nil)
	assert.Check(t, is.ErrorIs(got.Err, ErrNoSuchWorkspace))
	assert.Check(t, is.ErrorContains(got.Err, `"f6e3" is the start of the ID of gws-y: name that one by its name, or by 12 characters of its ID`))
	// A subdir that names a workspace wins; a word that starts no ID is a subdir.
	ws = append(ws, Workspace{ID: "aaaa" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab", Name: "gws-f6e3", Subdir: "f6e3"})
	assert.Check(t, is.Equal(ResolveRefs([]string{"f6e3"}, ws)[0].Workspace.Subdir, "f6e3"))
	got = ResolveRefs([]string{"team"}, ws)[0]
	assert.Check(t, got.Err == nil && got.Workspace == nil && got.Subdir == "team")
}
