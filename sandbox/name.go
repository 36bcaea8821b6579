package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// NamePrefix starts the name of every workspace container.
const NamePrefix = "gws-"

// maxSanitizedLen is how much of the sanitised subdir the name keeps.
const maxSanitizedLen = 50

// ContainerName returns the name of the container of a workspace subdir,
// exactly as the original gateway module computed it, so that containers it
// created are found: the subdir lower-cased, every run of characters outside
// [a-z0-9._-] replaced by "-", "-" trimmed at both ends, "ws" if nothing is
// left, then "gws-" and the first 50 characters.
func ContainerName(subdir string) string {
	safe := sanitize(subdir)
	if len(safe) > maxSanitizedLen {
		safe = safe[:maxSanitizedLen]
	}
	return NamePrefix + string(safe)
}

// sanitize mirrors the seed's re.sub("[^a-z0-9._-]+", "-", s.lower(),
// flags=IGNORECASE).strip("-") code point for code point, including Python's
// full lower-casing of U+0130 to "i" + U+0307 and the two non-ASCII letters
// that IGNORECASE lets through the class (U+0131 ı, U+017F ſ).
func sanitize(subdir string) []rune {
	out := make([]rune, 0, len(subdir))
	inRun := false
	emit := func(r rune) {
		if keep(r) {
			out = append(out, r)
			inRun = false
			return
		}
		if !inRun {
			out = append(out, '-')
			inRun = true
		}
	}
	for _, r := range subdir {
		if r == '\u0130' {
			emit('i')
			emit('\u0307')
			continue
		}
		emit(unicode.ToLower(r))
	}
	for len(out) > 0 && out[0] == '-' {
		out = out[1:]
	}
	for len(out) > 0 && out[len(out)-1] == '-' {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return []rune("ws")
	}
	return out
}

func keep(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '.' || r == '_' || r == '-' ||
		r == '\u0131' || r == '\u017f'
}

// ErrInvalidSubdir is wrapped by every error of [ValidateSubdir].
var ErrInvalidSubdir = errors.New("invalid workspace subdir")

// ValidateSubdir refuses a subdir that is not a plain relative path below the
// workspace root: empty, absolute, with an empty, "." or ".." element, or with
// a NUL or another control character.
func ValidateSubdir(subdir string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidSubdir, subdir, why)
	}
	if subdir == "" {
		return fmt.Errorf("%w: it is empty", ErrInvalidSubdir)
	}
	for _, r := range subdir {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return bad("it contains a control character")
		}
	}
	if strings.HasPrefix(subdir, "/") {
		return bad("it must be relative to the workspace root, not absolute")
	}
	for _, elem := range strings.Split(subdir, "/") {
		switch elem {
		case "..":
			return bad(`it must not contain ".."`)
		case ".":
			return bad(`it must not contain "." elements`)
		case "":
			return bad("it must not contain empty path elements (//, or a trailing /)")
		}
	}
	return nil
}

func trimSlash(name string) string {
	return strings.TrimPrefix(name, "/")
}
