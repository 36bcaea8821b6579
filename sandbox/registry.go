package sandbox

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path"
	"strings"
)

// The registry records which subdirs of a workspace root (or volume) are
// workspaces, so that a workspace whose container was removed still counts:
// its directory holds its data, and no other workspace may be made above or
// below it (see overlap.go). It is the directory RegistryDir/workspaces of
// the root or volume, one file per workspace, named by the sha256 of the
// subdir and holding the subdir. Records are written once a new workspace has
// won its overlap check, and never removed by a command that keeps the
// data (all of them).
const registryWorkspaces = "workspaces"

// registryPath is the registry's path relative to the root.
var registryPath = path.Join(RegistryDir, registryWorkspaces)

// maxRecordLen bounds what is read of one record.
const maxRecordLen = 64 << 10

// recordFor is the file name and content of subdir's record.
func recordFor(subdir string) (name string, content []byte) {
	sum := sha256.Sum256([]byte(subdir))
	return hex.EncodeToString(sum[:]), []byte(subdir)
}

// parseRecord accepts a record whose name matches its content and whose
// content is a valid subdir; anything else in the directory is ignored.
func parseRecord(name string, content []byte) (string, bool) {
	subdir := string(content)
	if want, _ := recordFor(subdir); want != name || ValidateSubdir(subdir) != nil {
		return "", false
	}
	return subdir, true
}

// recordsFromTar reads the records from a tar of the registry directory, as
// CopyFromContainer returns it (entries named "workspaces/<name>").
func recordsFromTar(r io.Reader) ([]string, error) {
	tr := tar.NewReader(r)
	var subdirs []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return subdirs, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxRecordLen))
		if err != nil {
			return nil, err
		}
		if s, ok := parseRecord(path.Base(strings.TrimSuffix(hdr.Name, "/")), b); ok {
			subdirs = append(subdirs, s)
		}
	}
}
