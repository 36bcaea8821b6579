//go:build !unix

package sandbox

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

var errSymlink = errors.New("symlinks are never followed below a workspace root")

var errNoHostFS = fmt.Errorf("bind mode with a local engine is not supported on %s: use volume_subpath mode", runtime.GOOS)

type hostDir struct{ path string }

func (d *hostDir) Close() error                                   { return nil }
func (d *hostDir) own(owner, bool) error                          { return errNoHostFS }
func (d *hostDir) ownInPrivateParent(owner, bool) error           { return errNoHostFS }
func mkdirAllSafe(string, string, uint32) (*hostDir, bool, error) { return nil, false, errNoHostFS }
func openSafePath(string, string) (*hostDir, error)               { return nil, errNoHostFS }

func (d *hostDir) removed() bool { return false }

type localRoot struct{ *hostDir }

func openLocalRoot(string, bool) (*localRoot, error) { return nil, errNoHostFS }
func (r *localRoot) workspaceDir(string, bool) (*hostDir, []string, error) {
	return nil, nil, errNoHostFS
}
func (r *localRoot) removeCreated([]string)      {}
func (r *localRoot) records() ([]string, error)  { return nil, errNoHostFS }
func (r *localRoot) record(string) (bool, error) { return false, errNoHostFS }
func (r *localRoot) unrecord(string)             {}

func (r *localRoot) lock(context.Context, time.Duration) (func(), error) { return nil, errNoHostFS }

func (d *hostDir) stat() (struct{ Mode uint32 }, error) { return struct{ Mode uint32 }{}, errNoHostFS }

func rootHolding(string) string { return "" }

func fileOwner(os.FileInfo) (int, bool) { return 0, false }
