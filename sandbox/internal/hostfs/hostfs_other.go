//go:build !unix

package hostfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
)

// Making workspace directories on this host, safely, needs the descriptor
// calls of a Unix system (see hostfs_unix.go). Elsewhere a local engine's
// bind mode is refused; volume_subpath mode works.

var ErrSymlink = errors.New("symlinks are never followed below a workspace root")

var errNoHostFS = fmt.Errorf("bind mode with a local engine is not supported on %s: use volume_subpath mode", runtime.GOOS)

type Dir struct{ Path string }

func (d *Dir) Close() error                                   { return nil }
func (d *Dir) Own(Owner, bool) error                          { return errNoHostFS }
func (d *Dir) OwnInPrivateParent(Owner, bool) error           { return errNoHostFS }
func MkdirAllSafe(string, string, uint32) (*Dir, bool, error) { return nil, false, errNoHostFS }
func OpenSafePath(string, string) (*Dir, error)               { return nil, errNoHostFS }

func (d *Dir) Removed() bool { return false }

type Root struct{ *Dir }

func OpenRoot(string, bool) (*Root, error) { return nil, errNoHostFS }
func (r *Root) WorkspaceDir(string, bool) (*Dir, []string, error) {
	return nil, nil, errNoHostFS
}
func (r *Root) RemoveCreated([]string)      {}
func (r *Root) Records() ([]string, error)  { return nil, errNoHostFS }
func (r *Root) Record(string) (bool, error) { return false, errNoHostFS }
func (r *Root) Unrecord(string) bool        { return false }
func (r *Root) Unmark()                     {}

func (r *Root) Lock(context.Context, time.Duration) (func(), error) { return nil, errNoHostFS }

func (d *Dir) Stat() (struct{ Mode uint32 }, error) { return struct{ Mode uint32 }{}, errNoHostFS }

func RootHolding(string) string { return "" }

func fileOwner(os.FileInfo) (int, bool) { return 0, false }
