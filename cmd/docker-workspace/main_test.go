package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli-plugins/metadata"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/cmd/docker-workspace/internal/meta"
)

// The metadata request is answered before the packages the commands need
// are initialised (GODEBUG=inittrace=1 prints each package's init as it
// runs); any other command line runs them all and gets the same version.
func TestMetadataIsAnsweredEarly(t *testing.T) {
	const pkg = "github.com/docker-workspace/docker-workspace/cmd/docker-workspace/internal/meta"
	bin := filepath.Join(t.TempDir(), "docker-workspace")
	build := exec.Command("go", "build", "-ldflags", "-X "+pkg+".version=v9.8.7", "-o", bin, ".")
	out, err := build.CombinedOutput()
	assert.NilError(t, err, string(out))

	inits := func(args ...string) (stdout string, initialised []string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var errb strings.Builder
		cmd.Stderr = &errb
		o, _ := cmd.Output()
		for _, l := range strings.Split(errb.String(), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "init" {
				initialised = append(initialised, f[1])
			}
		}
		return string(o), initialised
	}

	stdout, initialised := inits(metadata.MetadataSubcommandName)
	var got metadata.Metadata
	assert.NilError(t, json.Unmarshal([]byte(stdout), &got), stdout)
	want := meta.Metadata()
	want.Version = "v9.8.7"
	assert.Check(t, is.DeepEqual(got, want))
	// Leaf packages that sort before it may come first; what the commands
	// need does not.
	for _, p := range initialised {
		for _, heavy := range []string{"github.com/docker/cli/cli/command", "github.com/docker/docker/client", "github.com/distribution/reference",
			"google.golang.org/grpc", "go.opentelemetry.io/otel/sdk/resource", "github.com/spf13/cobra", "github.com/docker-workspace/docker-workspace/plugin"} {
			assert.Check(t, p != heavy, "the answer initialised %s", p)
		}
	}
	n := len(initialised)

	stdout, initialised = inits("version")
	assert.Check(t, is.Contains(stdout, "v9.8.7"))
	assert.Check(t, len(initialised) > 2*n, "the answer initialised %d packages, a command %d", n, len(initialised))
	assert.Check(t, is.Contains(initialised, "github.com/docker/docker/client"))
}
