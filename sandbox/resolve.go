package sandbox

import (
	"fmt"
	"strings"
)

// minIDPrefix is the shortest ID prefix taken as an ID: the short IDs that
// `docker ps` and `ls -q` print. A shorter hexadecimal word is a subdir.
const minIDPrefix = 12

// ResolveRefs finds what each reference names among the workspaces of a
// list: a workspace subdir (its container's label, or the name of a
// container of the original module), the name of a workspace's container
// or service (or the container name of its subdir), or its ID, full or a
// prefix of at least 12 digits. A reference that names none of them is a
// workspace without a container when it is a valid subdir whose name no
// other workspace holds; otherwise its Err says why it names nothing.
func ResolveRefs(refs []string, workspaces []Workspace) []Target {
	out := make([]Target, len(refs))
	for i, ref := range refs {
		out[i] = resolve(ref, workspaces)
	}
	return out
}

func resolve(ref string, workspaces []Workspace) Target {
	t := Target{Ref: ref, Named: looksLikeContainer(ref)}
	bySubdir, byName, byID := matchRef(ref, workspaces)
	if len(byID) > 1 {
		t.Err = fmt.Errorf("%w: %q matches more than one workspace's ID: give more of it", ErrNoSuchWorkspace, ref)
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
		t.Workspace, t.Subdir, t.Named = w, w.Subdir, w != bySubdir
		return t
	case 0:
	default:
		t.Err = fmt.Errorf("%w: %q is ambiguous: it is the subdir of %s and names %s; name it by its ID", ErrNoSuchWorkspace, ref, bySubdir.Name, matches[1].Name)
		return t
	}
	if w := shortIDOf(ref, workspaces); w != nil {
		// A subdir without a container that is also the start of one
		// workspace's ID (docker takes any unique prefix): not guessed.
		t.Err = fmt.Errorf("%w: workspace %q has no %s, and %q is the start of the ID of %s: name that one by its name, or by %d characters of its ID",
			ErrNoSuchWorkspace, ref, unitOf(w), ref, w.Name, minIDPrefix)
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
				t.Workspace = w // the original module's container of this subdir
				return t
			}
			t.Err = fmt.Errorf("%w: container %s belongs to workspace %q, not %q (both names sanitise to %s); nothing was changed",
				ErrNotThisWorkspace, name, w.Subdir, ref, name)
			return t
		}
	}
	return t
}

// matchRef finds the workspaces a reference names by subdir, by name, by
// ID (or ID prefix).
func matchRef(ref string, workspaces []Workspace) (bySubdir, byName *Workspace, byID []*Workspace) {
	name := trimSlash(ref)
	for i := range workspaces {
		w := &workspaces[i]
		switch {
		case w.Subdir != "" && w.Subdir == ref:
			bySubdir = w
		case w.Name == name || w.Subdir != "" && ContainerName(w.Subdir) == name:
			byName = w
		case w.ID == ref || idPrefix(ref) && strings.HasPrefix(w.ID, ref):
			byID = append(byID, w)
		}
	}
	return bySubdir, byName, byID
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

// LooksLikeContainer says whether a reference looks like a container name
// of ours or an ID (or an ID prefix as ls -q prints it) rather than a
// subdir.
func LooksLikeContainer(ref string) bool { return looksLikeContainer(ref) }

func looksLikeContainer(ref string) bool {
	return strings.HasPrefix(trimSlash(ref), NamePrefix) || len(ref) >= minIDPrefix && isHex(ref)
}

// shortIDOf is the one workspace whose ID a reference shorter than an ID
// prefix starts with (at least 4 characters), if one.
func shortIDOf(ref string, workspaces []Workspace) *Workspace {
	if len(ref) < 4 || idPrefix(ref) || !isBase36(ref) {
		return nil
	}
	var found *Workspace
	for i := range workspaces {
		if strings.HasPrefix(workspaces[i].ID, ref) {
			if found != nil {
				return nil
			}
			found = &workspaces[i]
		}
	}
	return found
}

// unitOf names what holds a workspace: a container, or a service.
func unitOf(w *Workspace) string {
	if len(w.ID) == 64 && isHex(w.ID) {
		return "container"
	}
	return "service"
}

// idPrefix says whether a reference may be a prefix of an ID: of a
// container's (hex), or of a Swarm service's (base 36, as `ls -q` prints
// its first 12 characters).
func idPrefix(ref string) bool {
	return len(ref) >= minIDPrefix && isHex(ref) || len(ref) >= serviceIDPrefix && isBase36(ref)
}

// serviceIDPrefix is the shortest prefix of a service ID taken as one: a
// shorter word is a subdir.
const serviceIDPrefix = 12

func isBase36(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z') {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return s != ""
}
