package claims

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/docker-workspace/docker-workspace/sandbox"
)

// RegistryWorkspaces is the directory of the registry, in RegistryDir.
//
// The registry records which subdirs of a workspace root (or volume) are
// workspaces, so that a workspace whose container was removed still counts:
// its directory holds its data, and no other workspace may be made above or
// below it (see overlap.go). It is the directory RegistryDir/workspaces of
// the root or volume, one file per workspace, named by the sha256 of the
// subdir and holding the subdir. Records are written once a new workspace has
// won its overlap check, and never removed by a command that keeps the
// data (all of them).
const RegistryWorkspaces = "workspaces"

// RegistryPath is the registry's path relative to the root.
var RegistryPath = path.Join(sandbox.RegistryDir, RegistryWorkspaces)

// RegistryTasks is the directory, in RegistryDir, of the records of the
// workspaces that an orchestrator (Swarm) runs from a volume, written as
// their workspace records are: an engine of a node does not make a
// container of its own for one of them, even while its service has no task.
const RegistryTasks = "tasks"

// TasksPath is the path of the task records relative to the volume.
var TasksPath = path.Join(sandbox.RegistryDir, RegistryTasks)

// MaxRecordLen bounds what is read of one record.
const MaxRecordLen = 64 << 10

// RecordFor is the file name and content of subdir's record.
func RecordFor(subdir string) (name string, content []byte) {
	sum := sha256.Sum256([]byte(subdir))
	return hex.EncodeToString(sum[:]), []byte(subdir)
}

// ParseRecord accepts a record whose name matches its content and whose
// content is a valid subdir; anything else in the directory is ignored.
func ParseRecord(name string, content []byte) (string, bool) {
	subdir := string(content)
	if want, _ := RecordFor(subdir); want != name || sandbox.ValidateSubdir(subdir) != nil {
		return "", false
	}
	return subdir, true
}

// Registry is what a registry holds: the subdirs recorded as workspaces,
// those of them an orchestrator runs, and the kind of the directory
// (RegistryKind).
type Registry struct {
	Subdirs []string
	Tasks   []string
	Kind    string
}

// RegistryKind is the file, in RegistryDir, that says what holds the
// workspaces: KindBind (a workspace root of bind mode) or KindVolume (the
// directory of a workspace volume). A volume whose directory is a bind
// root (its device option) would read that root's records as its own, and
// mount its workspaces by name; so would a bind root in a volume's
// directory. Registries made before it have none.
const RegistryKind = "kind"

// The kinds of RegistryKind.
const (
	KindBind   = "bind"
	KindVolume = "volume"
)

// KindConflict is the refusal of a directory of workspaces of one kind
// (want) whose registry says it is of another (have), or "" when it may be
// used.
func KindConflict(have, want, where string) error {
	if have == "" || have == want {
		return nil
	}
	what := map[string]string{KindBind: "a workspace root of bind mode", KindVolume: "the directory of a workspace volume"}[have]
	if what == "" {
		what = fmt.Sprintf("of kind %q", have)
	}
	return fmt.Errorf("%w: %s is %s (another configuration's): its workspaces are not this configuration's; refused", sandbox.ErrOverlap, where, what)
}

// RecordsFromTar reads the records from a tar of the registry's parent
// directory (RegistryDir), as CopyFromContainer returns it: the directory
// itself first, then "workspaces/", then "workspaces/<name>" files (and
// "tasks/" with "tasks/<name>" files). A registry that is not made of
// directories (a symlink, a file) is refused: read as empty, it would let
// an overlap through.
func RecordsFromTar(r io.Reader) (Registry, error) {
	tr := tar.NewReader(r)
	var reg Registry
	for first := true; ; first = false {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return reg, nil
		}
		if err == nil {
			err = reg.add(hdr, tr, first)
		}
		if err != nil {
			return Registry{}, err
		}
	}
}

// add reads one entry of a registry's archive into reg.
func (reg *Registry) add(hdr *tar.Header, tr io.Reader, first bool) error {
	name := strings.TrimSuffix(hdr.Name, "/")
	depth := strings.Count(name, "/")
	dir, base := path.Base(path.Dir(name)), path.Base(name)
	switch {
	case first || depth == 1 && (base == RegistryWorkspaces || base == RegistryTasks):
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%s is not a directory (%s): refused", name, typeName(hdr.Typeflag))
		}
		return nil
	case depth == 1 && base == RegistryKind && hdr.Typeflag == tar.TypeReg:
		b, err := io.ReadAll(io.LimitReader(tr, 64))
		reg.Kind = strings.TrimSpace(string(b))
		return err
	case depth != 2 || hdr.Typeflag != tar.TypeReg:
		return nil // not a record
	}
	list := map[string]*[]string{RegistryWorkspaces: &reg.Subdirs, RegistryTasks: &reg.Tasks}[dir]
	if list == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(tr, MaxRecordLen))
	if s, ok := ParseRecord(base, b); ok && err == nil {
		*list = append(*list, s)
	}
	return err
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "a symlink"
	case tar.TypeReg:
		return "a file"
	case tar.TypeDir:
		return "a directory"
	}
	return "not a directory"
}
