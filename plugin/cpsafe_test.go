package plugin

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// What cp takes out of a workspace lands on this host without a device
// node, a fifo, a setuid or setgid bit, a file capability, or another
// owner than the caller; each change is said.
func TestCopyOutIsMadeSafe(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, h := range []*tar.Header{
		{Name: "out/", Typeflag: tar.TypeDir, Mode: 0o2755},
		{Name: "out/tool", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 4, Uid: 0, Gid: 0},
		{Name: "out/disk", Typeflag: tar.TypeBlock, Mode: 0o600, Devmajor: 254},
		{Name: "out/pipe", Typeflag: tar.TypeFifo, Mode: 0o600},
		{Name: "out/ping", Typeflag: tar.TypeReg, Mode: 0o755, Size: 4, Uid: 1000, Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20"}},
		{Name: "out/plain", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4, Uid: 1000},
	} {
		assert.NilError(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, _ = tw.Write([]byte("data"))
		}
	}
	assert.NilError(t, tw.Close())

	var out, warn bytes.Buffer
	assert.NilError(t, sanitizeTar(&in, &out, &warn))
	got := map[string]*tar.Header{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		assert.NilError(t, err)
		got[h.Name] = h
	}
	assert.Check(t, is.Len(got, 4))
	assert.Check(t, is.Equal(got["out/"].Mode, int64(0o755)))
	assert.Check(t, is.Equal(got["out/tool"].Mode, int64(0o755)))
	assert.Check(t, is.Len(got["out/ping"].PAXRecords, 0))
	for _, h := range got {
		assert.Check(t, is.Equal(h.Uid, os.Getuid()), h.Name)
	}
	assert.Check(t, is.Equal(warn.String(), "cp: out/: its setuid and setgid bits dropped\n"+
		"cp: out/tool: its setuid and setgid bits dropped\n"+
		"cp: out/disk: a device node: left out\n"+
		"cp: out/pipe: a fifo: left out\n"+
		"cp: out/ping: its extended attributes (file capabilities among them) dropped\n"))
}
