package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/api"
)

// TokenSpec is one token of a tokens file (--tokens): who may call, on
// which workspaces, with which verbs, and with which configuration. The
// configuration is the operator's: a caller cannot change any of it.
type TokenSpec struct {
	// Name names the token in the audit log; it is not a secret.
	Name string `json:"name"`
	// Secret is the token a caller sends (Authorization: Bearer …), at
	// least 16 characters; or SHA256 is its SHA-256, in hexadecimal, so
	// that the file need not hold it.
	Secret string `json:"secret,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Workspaces are the subdirs it may touch: patterns of path.Match
	// ("team-a/*": the workspaces one level below team-a), a pattern
	// ending in "/**" any depth below its prefix, "**" every workspace.
	Workspaces []string `json:"workspaces"`
	// Verbs are those it may use (api.Verbs; "*": all).
	Verbs []string `json:"verbs"`
	// Expires, when set, is when it stops being accepted.
	Expires *time.Time `json:"expires,omitempty"`
	// Config is the configuration its workspaces are made with: the keys
	// of config.json's plugins.workspace section (image, mount-mode,
	// workspace-root, egress, allow, profile, memory…), over the server's
	// own configuration.
	Config map[string]any `json:"config,omitempty"`
}

// tokensFile is the file's form.
type tokensFile struct {
	Tokens []TokenSpec `json:"tokens"`
}

// Token is a token as the server holds it.
type Token struct {
	Name     string
	hash     [sha256.Size]byte
	patterns []string
	verbs    map[string]bool
	expires  time.Time
	// Config is the configuration its workspaces are made with.
	Config sandbox.Config
}

// Tokens are the tokens a server accepts.
type Tokens struct {
	list []*Token
}

// ConfigFunc turns a token's configuration keys into a configuration,
// over the server's own; an error names the key.
type ConfigFunc func(keys map[string]any) (sandbox.Config, error)

// LoadTokens reads a tokens file. The file must not be writable by anyone
// but its owner, nor readable by others when it holds secrets. Any bad
// token refuses the whole file, naming it.
func LoadTokens(file string, configFor ConfigFunc) (*Tokens, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var tf tokensFile
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tf); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if why := fileModeRefusal(st.Mode().Perm(), tf.Tokens); why != "" {
		return nil, fmt.Errorf("%s: %s", file, why)
	}
	t, err := NewTokens(tf.Tokens, configFor)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return t, nil
}

// fileModeRefusal is why a tokens file's mode is refused ("": it is not).
func fileModeRefusal(perm os.FileMode, specs []TokenSpec) string {
	if perm&0o022 != 0 {
		return fmt.Sprintf("mode %#o: writable by others than its owner, who could give themselves any access (chmod go-w)", perm)
	}
	plain := slices.ContainsFunc(specs, func(s TokenSpec) bool { return s.Secret != "" })
	if plain && perm&0o004 != 0 {
		return fmt.Sprintf("mode %#o: holds secrets and is readable by everyone (chmod o-r, or give each token's sha256 instead)", perm)
	}
	return ""
}

// NewTokens checks token specs and resolves their configurations.
func NewTokens(specs []TokenSpec, configFor ConfigFunc) (*Tokens, error) {
	t := &Tokens{}
	seen := map[string]bool{}
	for i, s := range specs {
		tok, err := newToken(s, configFor)
		if err != nil {
			name := s.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return nil, fmt.Errorf("token %s: %w", name, err)
		}
		if seen[tok.Name] {
			return nil, fmt.Errorf("token %s: a name given twice", tok.Name)
		}
		if slices.ContainsFunc(t.list, func(o *Token) bool { return o.hash == tok.hash }) {
			return nil, fmt.Errorf("token %s: the secret of another token", tok.Name)
		}
		seen[tok.Name] = true
		t.list = append(t.list, tok)
	}
	return t, nil
}

func newToken(s TokenSpec, configFor ConfigFunc) (*Token, error) {
	tok := &Token{Name: s.Name, verbs: map[string]bool{}}
	if strings.TrimSpace(s.Name) == "" || strings.ContainsFunc(s.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, errors.New("a name is needed, printable")
	}
	if err := tok.setSecret(s); err != nil {
		return nil, err
	}
	if err := tok.setScope(s); err != nil {
		return nil, err
	}
	if s.Expires != nil {
		tok.expires = *s.Expires
	}
	if configFor != nil {
		cfg, err := configFor(s.Config)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		tok.Config = cfg
	}
	return tok, nil
}

func (tok *Token) setSecret(s TokenSpec) error {
	switch {
	case s.Secret != "" && s.SHA256 != "":
		return errors.New("give secret or sha256, not both")
	case s.Secret != "":
		if len(s.Secret) < 16 {
			return errors.New("a secret of at least 16 characters is needed")
		}
		tok.hash = sha256.Sum256([]byte(s.Secret))
	case s.SHA256 != "":
		b, err := hex.DecodeString(s.SHA256)
		if err != nil || len(b) != sha256.Size {
			return errors.New("sha256: 64 hexadecimal digits are needed")
		}
		copy(tok.hash[:], b)
	default:
		return errors.New("a secret (or its sha256) is needed")
	}
	return nil
}

func (tok *Token) setScope(s TokenSpec) error {
	if len(s.Workspaces) == 0 {
		return errors.New(`workspaces: at least one pattern is needed ("**": all)`)
	}
	for _, p := range s.Workspaces {
		if err := checkPattern(p); err != nil {
			return fmt.Errorf("workspaces: %w", err)
		}
	}
	tok.patterns = s.Workspaces
	if len(s.Verbs) == 0 {
		return fmt.Errorf(`verbs: at least one is needed (%s, or "*")`, strings.Join(api.Verbs, ", "))
	}
	for _, v := range s.Verbs {
		switch {
		case v == "*":
			for _, a := range api.Verbs {
				tok.verbs[a] = true
			}
		case slices.Contains(api.Verbs, v):
			tok.verbs[v] = true
		default:
			return fmt.Errorf("verbs: unknown verb %q (%s, or \"*\")", v, strings.Join(api.Verbs, ", "))
		}
	}
	return nil
}

// checkPattern refuses a pattern path.Match cannot read, or one whose
// literal part is not a subdir.
func checkPattern(p string) error {
	if p == "**" {
		return nil
	}
	base := strings.TrimSuffix(p, "/**")
	if _, err := path.Match(base, ""); err != nil {
		return fmt.Errorf("invalid pattern %q: %w", p, err)
	}
	if base == "" || strings.HasPrefix(base, "/") || slices.Contains(strings.Split(base, "/"), "..") || slices.Contains(strings.Split(base, "/"), ".") || strings.Contains(base, "//") {
		return fmt.Errorf("invalid pattern %q: a relative subdir pattern is needed", p)
	}
	return nil
}

// Lookup is the token whose secret is secret: every token is compared, in
// constant time, whichever matches. An expired one is not.
func (t *Tokens) Lookup(secret string, now time.Time) (*Token, bool) {
	if t == nil {
		return nil, false
	}
	h := sha256.Sum256([]byte(secret))
	var found *Token
	for _, tok := range t.list {
		if subtle.ConstantTimeCompare(h[:], tok.hash[:]) == 1 {
			found = tok
		}
	}
	if found == nil || (!found.expires.IsZero() && now.After(found.expires)) {
		return nil, false
	}
	return found, true
}

// Len is how many tokens there are.
func (t *Tokens) Len() int { return len(t.list) }

// Allows says whether the token may use verb.
func (tok *Token) Allows(verb string) bool { return tok.verbs[verb] }

// Covers says whether the token may touch the workspace of subdir (a
// valid one).
func (tok *Token) Covers(subdir string) bool {
	for _, p := range tok.patterns {
		if matches(p, subdir) {
			return true
		}
	}
	return false
}

func matches(p, subdir string) bool {
	if p == "**" {
		return true
	}
	if prefix, ok := strings.CutSuffix(p, "/**"); ok {
		// Any depth below a directory that prefix matches.
		parts := strings.Split(subdir, "/")
		for i := 1; i < len(parts); i++ {
			if ok, _ := path.Match(prefix, strings.Join(parts[:i], "/")); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(p, subdir)
	return ok
}
