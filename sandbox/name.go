package sandbox

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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

// RegistryDir is the directory, right below a workspace root (or in the
// workspace volume), where sandbox records which subdirs are workspaces. No
// workspace container sees it (see [Manager.Ensure]); no subdir may start
// with it.
const RegistryDir = ".docker-workspace"

// maxElemLen is the longest path element a Linux filesystem takes;
// maxSubdirLen leaves room below PATH_MAX (4096) for the root or volume.
const (
	maxElemLen   = 255
	maxSubdirLen = 1024
)

// ValidateSubdir refuses a subdir that is not a plain relative path below the
// workspace root (empty, absolute, with an empty, "." or ".." element, or an
// element longer than 255 bytes, more than 1024 bytes in all), that starts
// with [RegistryDir], that is not UTF-8 in normal form C, that cannot be part of a container name (U+0131 ı and U+017F ſ
// survive into the name, which the engine refuses), or that displays
// deceptively: control, format (bidi overrides, zero-width), private-use and
// separator characters other than the plain space.
func ValidateSubdir(subdir string) error {
	if subdir == "" {
		return fmt.Errorf("%w: it is empty", ErrInvalidSubdir)
	}
	why := subdirText(subdir)
	if why == "" {
		why = subdirPath(subdir)
	}
	if why != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidSubdir, subdir, why)
	}
	return nil
}

// subdirText is why a subdir's text is refused: its encoding, length,
// form, or a character that cannot be in a name or deceives the eye.
func subdirText(subdir string) string {
	switch {
	case !utf8.ValidString(subdir):
		return "it is not valid UTF-8"
	case len(subdir) > maxSubdirLen:
		return fmt.Sprintf("it is longer than %d bytes", maxSubdirLen)
	case !norm.NFC.IsNormalString(subdir):
		// "é" as e + U+0301 would be another workspace than "é", and look
		// the same.
		return fmt.Sprintf("it is not in Unicode normal form C (write it as %q)", norm.NFC.String(subdir))
	}
	for _, r := range subdir {
		switch {
		case unicode.IsControl(r):
			return "it contains a control character"
		case r == '\u0131' || r == '\u017f':
			return fmt.Sprintf("%q cannot be part of a container name", r)
		case r != ' ' && (unicode.In(r, unicode.Cf, unicode.Co, unicode.Zs, unicode.Zl, unicode.Zp) || r == '\ufffd'):
			return fmt.Sprintf("it contains %U, a character that displays deceptively or not at all", r)
		}
	}
	if !norm.NFKC.IsNormalString(subdir) {
		// Fullwidth letters, "．．", ligatures: another name that looks like
		// a plain one.
		return fmt.Sprintf("it contains compatibility characters, drawn like others (it reads as %q)", norm.NFKC.String(subdir))
	}
	if why := confusable(subdir); why != "" {
		return why
	}
	return ""
}

// slashLike are characters drawn as a slash that are not one: a name
// with one would look like a path of two elements.
const slashLike = "\u2215\u2044\u29f8\u2571\u29f5\u20e5\u2572\u2216"

// confusableScripts are the scripts whose letters look like Latin ones.
var confusableScripts = []*unicode.RangeTable{unicode.Latin, unicode.Cyrillic, unicode.Greek, unicode.Armenian}

// confusable is why a subdir looks like another: a slash-like character,
// or a path element that mixes letters of Latin, Cyrillic, Greek or
// Armenian (Cyrillic "с" in "сat" is another workspace than "cat").
func confusable(subdir string) string {
	if i := strings.IndexAny(subdir, slashLike); i >= 0 {
		r, _ := utf8.DecodeRuneInString(subdir[i:])
		return fmt.Sprintf("it contains %U, a character drawn as a slash", r)
	}
	for _, elem := range strings.Split(subdir, "/") {
		var seen *unicode.RangeTable
		for _, r := range elem {
			for _, script := range confusableScripts {
				if !unicode.Is(script, r) {
					continue
				}
				if seen != nil && seen != script {
					return fmt.Sprintf("the element %q mixes letters of scripts that look alike (%U): it would look like another name", elem, r)
				}
				seen = script
			}
		}
	}
	return ""
}

// subdirPath is why a subdir's path is refused: absolute, with an empty,
// "." or ".." element, one too long, or the records' name.
func subdirPath(subdir string) string {
	if strings.HasPrefix(subdir, "/") {
		return "it must be relative to the workspace root, not absolute"
	}
	for _, elem := range strings.Split(subdir, "/") {
		switch {
		case elem == "..":
			return `it must not contain ".."`
		case elem == ".":
			return `it must not contain "." elements`
		case elem == "":
			return "it must not contain empty path elements (//, or a trailing /)"
		case len(elem) > maxElemLen:
			return fmt.Sprintf("a path element is longer than %d bytes", maxElemLen)
		case elem == RegistryDir:
			return fmt.Sprintf("%q is reserved for the tool's records", RegistryDir)
		}
	}
	return ""
}

func trimSlash(name string) string {
	return strings.TrimPrefix(name, "/")
}
