package engine

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// A root that others could enter is warned of, unless a directory above
// it keeps them out (issue 22, new-user pass: a 0755 root in a 0700
// directory is out of their reach).
func TestDoctorWarnsOfAReachableRootOnly(t *testing.T) {
	private := t.TempDir() // 0700
	root := filepath.Join(private, "root")
	assert.NilError(t, os.Mkdir(root, 0o755))
	assert.NilError(t, os.Chmod(root, 0o755))
	var r sandbox.Report
	checkLocalRoot(root, nil, &r)
	assert.Check(t, is.Len(r.Warnings, 0), "%v", r.Warnings)

	open, err := os.MkdirTemp("", "doctor-open-")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(open) })
	assert.NilError(t, os.Chmod(open, 0o755)) // in /tmp: nothing above keeps others out
	root = filepath.Join(open, "root")
	assert.NilError(t, os.Mkdir(root, 0o755))
	assert.NilError(t, os.Chmod(root, 0o755))
	r = sandbox.Report{}
	checkLocalRoot(root, nil, &r)
	assert.Assert(t, is.Len(r.Warnings, 1))
	assert.Check(t, is.Contains(r.Warnings[0], "local users can reach the workspaces"))
}
