package sandbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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

// Every subdir that validates gives a name the engine takes:
// [a-zA-Z0-9][a-zA-Z0-9_.-]+ (docker's own rule).
func TestValidSubdirsMakeValidNames(t *testing.T) {
	n := 0
	for _, tc := range seedNames(t) {
		if ValidateSubdir(tc.Subdir) != nil {
			continue
		}
		n++
		assert.Check(t, validName.MatchString(ContainerName(tc.Subdir)), "subdir %q gives %q", tc.Subdir, ContainerName(tc.Subdir))
	}
	assert.Check(t, n > 40, "only %d seed names are valid", n)
}

func TestValidateSubdir(t *testing.T) {
	for _, ok := range []string{"alice", "team/alice", "a b", ".hidden", "x..y", "日本語", "a-b_c.d",
		".docker-workspace2", "İstanbul", "emoji😀name", strings.Repeat("z", 255), "caf\u00e9", "команда", "αβγ"} {
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
		// Names the engine cannot take: ı and ſ survive into the name.
		"alıce": "cannot be part of a container name",
		"longſ": "cannot be part of a container name",
		// What displays deceptively.
		"evil\u202egnp.exe": "U+202E",
		"zero\u200bwidth":   "U+200B",
		"line\u2028sep":     "U+2028",
		"para\u2029sep":     "U+2029",
		"nb\u00a0space":     "U+00A0",
		"bom\ufeffx":        "U+FEFF",
		"rep\ufffdx":        "U+FFFD",
		"c1\u0085x":         "control character",
		"bad\xffutf8":       "not valid UTF-8",
		// Where the tool keeps its records, and what no filesystem takes.
		".docker-workspace":             "reserved",
		".docker-workspace/x":           "reserved",
		strings.Repeat("x", 256):        "longer than 255 bytes",
		"a/" + strings.Repeat("y", 256): "longer than 255 bytes",
		"team/.docker-workspace":        "reserved",
		// Look-alikes of other names (issue 17, Low).
		"\u0441at":                 "mixes letters of scripts that look alike",
		"team/b\u043eb":            "mixes letters of scripts that look alike",
		"\uff54\uff45\uff41\uff4d": `reads as "team"`,
		"\uff0e\uff0e/x":           `reads as "../x"`,
		"\ufb01le":                 `reads as "file"`,
		"team\u2215bob":            "U+2215, a character drawn as a slash",
		"team\u2044bob":            "U+2044, a character drawn as a slash",
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
		if name := ContainerName(subdir); !validName.MatchString(name) {
			t.Fatalf("valid subdir %q gives the name %q, which the engine refuses", subdir, name)
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

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// A command's relative working directory is below the workspace, where
// commands start (issue 22, pass 16: exec -w sub was the container's
// root's sub).
func TestWorkdirIn(t *testing.T) {
	for in, want := range map[string]string{
		"": WorkspaceTarget, "sub": WorkspaceTarget + "/sub", "./a/../b": WorkspaceTarget + "/b", "/tmp": "/tmp", "/tmp/": "/tmp", "..": "/home/agent",
	} {
		assert.Check(t, is.Equal(WorkdirIn(in), want), in)
	}
}
