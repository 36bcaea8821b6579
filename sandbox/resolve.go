package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNoSuchWorkspace is wrapped by the error of a reference that names no
// workspace container.
var ErrNoSuchWorkspace = errors.New("no such workspace container")

// A Target is what a reference to a workspace resolves to.
type Target struct {
	// Ref is the reference as given.
	Ref string
	// Subdir is the workspace's subdir; empty for a container of the
	// original module named by its name or ID.
	Subdir string
	// Container is the workspace's container; nil when it has none.
	Container *Workspace
	// Named says that Ref named a container (its name or ID) rather than a
	// subdir, or looks like it does (gws-…, or 12+ hexadecimal digits).
	Named bool
	// Err is why Ref names nothing usable (another workspace's container,
	// an ambiguous ID prefix, an invalid subdir).
	Err error
}

// minIDPrefix is the shortest ID prefix taken as an ID: the short IDs that
// `docker ps` and `ls -q` print. A shorter hexadecimal word is a subdir.
const minIDPrefix = 12

// Resolve finds, with one container list, what each reference names: a
// workspace subdir (the label of its container, or the name of a container
// of the original module), the name of a workspace container, or its ID,
// full or a prefix of at least 12 digits. A reference that names no
// container is a workspace without one when it is a valid subdir whose
// container name no other workspace's container holds.
func (m *Manager) Resolve(ctx context.Context, refs []string) ([]Target, error) {
	workspaces, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Target, len(refs))
	for i, ref := range refs {
		out[i] = resolve(ref, workspaces)
		if t := &out[i]; t.Container == nil && t.Err == nil && t.Named {
			// Not a workspace's: does it name another container?
			if ctr, err := m.client.ContainerInspect(ctx, ref); err == nil {
				t.Err = fmt.Errorf("%w: container %s is not a workspace container; nothing was changed", ErrNotThisWorkspace, trimSlash(ctr.Name))
			}
		}
	}
	return out, nil
}

func resolve(ref string, workspaces []Workspace) Target {
	t := Target{Ref: ref, Named: looksLikeContainer(ref)}
	var bySubdir, byName *Workspace
	var byID []*Workspace
	for i := range workspaces {
		w := &workspaces[i]
		switch {
		case w.Subdir != "" && w.Subdir == ref:
			bySubdir = w
		case w.Name == trimSlash(ref):
			byName = w
		case w.ID == ref || len(ref) >= minIDPrefix && isHex(ref) && strings.HasPrefix(w.ID, ref):
			byID = append(byID, w)
		}
	}
	if len(byID) > 1 {
		t.Err = fmt.Errorf("%q matches more than one workspace container: give more of the ID", ref)
		return t
	}
	var matches []*Workspace
	for _, w := range append([]*Workspace{bySubdir, byName}, byID...) {
		if w != nil && (len(matches) == 0 || matches[0] != w) {
			matches = append(matches, w)
		}
	}
	switch len(matches) {
	case 1:
		w := matches[0]
		t.Container, t.Subdir, t.Named = w, w.Subdir, w != bySubdir
		return t
	case 0:
	default:
		t.Err = fmt.Errorf("%q is ambiguous: it is the subdir of %s and names %s; name the container by its ID", ref, bySubdir.Name, matches[1].Name)
		return t
	}
	if err := ValidateSubdir(ref); err != nil {
		if t.Named {
			t.Err = fmt.Errorf("%w: %s", ErrNoSuchWorkspace, ref)
		} else {
			t.Err = err
		}
		return t
	}
	t.Subdir = ref
	name := ContainerName(ref)
	for i := range workspaces {
		if w := &workspaces[i]; w.Name == name {
			if w.Subdir == "" {
				t.Container = w // the original module's container of this subdir
				return t
			}
			t.Err = fmt.Errorf("%w: container %s belongs to workspace %q, not %q (both names sanitise to %s); nothing was changed",
				ErrNotThisWorkspace, name, w.Subdir, ref, name)
			return t
		}
	}
	return t
}

// ValidateRef refuses a reference that can name nothing: neither a valid
// subdir nor the shape of a container name or ID. (Whether it names a
// workspace, only the engine can tell.)
func ValidateRef(ref string) error {
	if looksLikeContainer(ref) {
		return nil
	}
	return ValidateSubdir(ref)
}

// looksLikeContainer says whether a reference looks like a container name
// of ours or an ID rather than a subdir.
func looksLikeContainer(ref string) bool {
	return strings.HasPrefix(trimSlash(ref), NamePrefix) || len(ref) >= minIDPrefix && isHex(ref)
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return s != ""
}
