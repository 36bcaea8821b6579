package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// The bytes the entry point writes are the JSON of the plugin's metadata,
// whatever plain version the linker stamps.
func TestMetadataBytes(t *testing.T) {
	defer func(v string) { version = v }(version)
	for _, v := range []string{"dev", "v1.2.3", "v1.2.3-4-gabcdef0-dirty"} {
		version = v
		want, err := json.Marshal(pluginMetadata())
		assert.NilError(t, err)
		assert.Equal(t, metadataPrefix+version+metadataSuffix, string(want)+"\n")
	}
}

// The binary linked with its own entry answers the metadata call as Go's
// main does, byte for byte, for any version: itself for a plain one (the Go
// runtime does not start: its trace of package initialisation is empty),
// through Go for one JSON must escape or leaves out.
func TestEntryAnswersAsGoDoes(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the entry is linux/amd64's")
	}
	dir := t.TempDir()
	build := func(name, ldflags string) string {
		bin := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", bin, "-ldflags", ldflags, ".")
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		assert.NilError(t, err, "%s", out)
		return bin
	}
	for i, tc := range []struct {
		version string
		entry   bool // the entry answers, not Go
	}{
		{"v1.2.3-4-gabcdef0-dirty", true},
		{`v1"<x>\`, false},
		{"", false},
	} {
		x := "-s -w -X 'main.version=" + tc.version + "'"
		withEntry := build(fmt.Sprintf("entry%d", i), x+" -E main.entry")
		goOnly := build(fmt.Sprintf("go%d", i), x)
		got, err := exec.Command(withEntry, "docker-cli-plugin-metadata").Output()
		assert.NilError(t, err, "%q", tc.version)
		want, err := exec.Command(goOnly, "docker-cli-plugin-metadata").Output()
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(got), string(want)), "%q", tc.version)
		var meta struct{ Version string }
		assert.Check(t, json.Unmarshal(got, &meta))
		assert.Check(t, is.Equal(meta.Version, tc.version))
		trace, err := exec.Command("sh", "-c", `GODEBUG=inittrace=1 "$0" docker-cli-plugin-metadata 2>&1 >/dev/null`, withEntry).Output()
		assert.NilError(t, err)
		assert.Check(t, is.Equal(len(trace) == 0, tc.entry), "%q: %d bytes of init trace", tc.version, len(trace))
	}
}
