package plugin

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/cli/templates"
)

// checkFormat parses a --format and runs it once on an empty row, so that a
// bad template is refused before anything is done (docker's formatter only
// finds out when it writes). sample is the row type the format renders.
func checkFormat(format formatter.Format, sample formatter.SubContext) error {
	src := string(format)
	switch {
	case format.IsJSON():
		return nil
	case format.IsTable():
		src = src[len(formatter.TableFormatKey):]
	}
	src = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(src, " "))
	tmpl, err := templates.Parse(src)
	if err == nil {
		err = tmpl.Execute(io.Discard, sample)
	}
	if err != nil {
		return usageError(fmt.Errorf("invalid --format %q: %w", string(format), err))
	}
	return nil
}

// printable is s as it should show on a terminal: a control, format (bidi
// override, zero-width) or separator character other than the plain space
// could make one subdir look like another, or rewrite the line; such a
// string is shown quoted, with those characters escaped. (ensure refuses
// them; a container made by hand may carry them.)
func printable(s string) string {
	deceptive := func(r rune) bool {
		return unicode.IsControl(r) || r != ' ' && unicode.In(r, unicode.Cf, unicode.Co, unicode.Zs, unicode.Zl, unicode.Zp) || r == utf8.RuneError
	}
	if !strings.ContainsFunc(s, deceptive) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case deceptive(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
