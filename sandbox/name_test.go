package sandbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

type seedName struct {
	Subdir string `json:"subdir"`
	Name   string `json:"name"`
}

// seedNames are names computed by the original module's own function
// (scripts/seed-names.py writes them).
func seedNames(t testing.TB) []seedName {
	b, err := os.ReadFile(filepath.Join("testdata", "seed-names.json"))
	assert.NilError(t, err)
	var names []seedName
	assert.NilError(t, json.Unmarshal(b, &names))
	assert.Assert(t, len(names) > 40)
	return names
}

func TestContainerNameMatchesSeed(t *testing.T) {
	for _, tc := range seedNames(t) {
		assert.Check(t, is.Equal(ContainerName(tc.Subdir), tc.Name), "subdir %q", tc.Subdir)
	}
}

func TestValidateSubdir(t *testing.T) {
	for _, ok := range []string{"alice", "team/alice", "a b", ".hidden", "x..y", "日本語", "a-b_c.d"} {
		assert.Check(t, ValidateSubdir(ok), "subdir %q", ok)
	}
	for subdir, why := range map[string]string{
		"":          "empty",
		"/abs":      "absolute",
		"..":        `".."`,
		"a/../b":    `".."`,
		"../escape": `".."`,
		".":         `"."`,
		"a/./b":     `"."`,
		"a//b":      "empty path elements",
		"a/":        "empty path elements",
		"nul\x00x":  "control character",
		"tab\tx":    "control character",
		"nl\nx":     "control character",
		"del\x7fx":  "control character",
	} {
		err := ValidateSubdir(subdir)
		assert.Check(t, is.ErrorIs(err, ErrInvalidSubdir), "subdir %q", subdir)
		assert.Check(t, is.ErrorContains(err, why), "subdir %q", subdir)
	}
}

// FuzzContainerName checks the properties every name must have. Its seed
// corpus (the seed module's names) runs in every `go test`.
func FuzzContainerName(f *testing.F) {
	for _, tc := range seedNames(f) {
		f.Add(tc.Subdir)
	}
	f.Fuzz(func(t *testing.T, subdir string) {
		name := ContainerName(subdir)
		if !strings.HasPrefix(name, NamePrefix) {
			t.Fatalf("%q: name %q lacks the prefix", subdir, name)
		}
		rest := []rune(strings.TrimPrefix(name, NamePrefix))
		if len(rest) == 0 || len(rest) > maxSanitizedLen {
			t.Fatalf("%q: name %q has %d characters after the prefix", subdir, name, len(rest))
		}
		if rest[0] == '-' {
			t.Fatalf("%q: name %q starts with '-' after the prefix", subdir, name)
		}
		for _, r := range rest {
			if !keep(r) && r != '-' {
				t.Fatalf("%q: name %q holds %q", subdir, name, r)
			}
		}
		if ContainerName(strings.ToUpper(subdir)) != name && utf8.ValidString(subdir) && isASCII(subdir) {
			t.Fatalf("%q: case changes the name", subdir)
		}
	})
}

// FuzzValidateSubdir checks that a subdir that passes stays below the root.
func FuzzValidateSubdir(f *testing.F) {
	for _, tc := range seedNames(f) {
		f.Add(tc.Subdir)
	}
	for _, s := range []string{"../x", "a/../../b", "/etc", "a\x00b", "./a", "a/.", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subdir string) {
		if ValidateSubdir(subdir) != nil {
			return
		}
		root := "/srv/workspaces"
		p := filepath.Join(root, filepath.FromSlash(subdir))
		if p == root || !strings.HasPrefix(p, root+"/") {
			t.Fatalf("valid subdir %q joins to %q, not below %q", subdir, p, root)
		}
		if filepath.Clean(p) != p || strings.ContainsRune(subdir, 0) {
			t.Fatalf("valid subdir %q is not clean", subdir)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
