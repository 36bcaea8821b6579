package cpsafe

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
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
	assert.NilError(t, Sanitize(&in, &out, Rules{UID: os.Getuid(), GID: os.Getgid(), Warn: func(name, why string) { fmt.Fprintf(&warn, "cp: %s: %s\n", name, why) }}))
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

// What cp copies into a workspace is the container user's (issue 22, 14).
func TestCopyInIsTheContainerUsers(t *testing.T) {
	passwd := []byte("root:x:0:0::/root:/bin/sh\nagent:x:1000:1000::/home/agent:/bin/sh\n")
	group := []byte("root:x:0:\nagent:x:1000:\nstaff:x:50:\n")
	for user, want := range map[string][3]int{
		"":            {0, 0, 1},
		"agent":       {1000, 1000, 1},
		"1000":        {1000, 1000, 1},
		"agent:50":    {1000, 50, 1},
		"agent:staff": {1000, 50, 1},
		"4242":        {4242, 0, 1},
		"nobody":      {0, 0, 0},
	} {
		uid, gid, ok := UserIDs(user, passwd, group)
		assert.Check(t, is.DeepEqual([3]int{uid, gid, map[bool]int{true: 1}[ok]}, want), user)
	}

	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755, Uname: "root"}))
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "data/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}))
	_, _ = tw.Write([]byte("hi"))
	assert.NilError(t, tw.Close())
	tr := tar.NewReader(OwnedBy(&in, 1000, 1000))
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		assert.NilError(t, err)
		n++
		assert.Check(t, h.Uid == 1000 && h.Gid == 1000 && h.Uname == "", h.Name)
	}
	assert.Check(t, is.Equal(n, 2))
}
