package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// The attacks of a hostile tenant (inside a workspace) and of a hostile
// local user (racing the plugin on the host) against workspace isolation.
// Each must fail to reach any data but the attacker's own.

// modeArgs are the ensure flags of a mount mode, with volumes of the test.
func modeArgs(h *harness, mode string) []string {
	if mode == "bind" {
		return nil
	}
	return []string{"--mount-mode", "volume_subpath", "--workspace-volume", h.volume("modern", "ws"), "--shared-volume", h.volume("modern", "sh")}
}

func ensureArgs(flags []string, subdirs ...string) []string {
	return append(append([]string{"ensure"}, flags...), subdirs...)
}

// A workspace inside another is refused both ways, whatever the tenant of
// the outer one plants where the inner one would go; nesting below a plain
// directory is fine; a removed container's data still counts.
func TestNestedWorkspacesAreRefused(t *testing.T) {
	requireEngine(t, "modern")
	for _, mode := range []string{"bind", "volume_subpath"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			flags := modeArgs(h, mode)
			par := h.short("-par")
			h.ws(ensureArgs(flags, par)...).Assert(t, icmd.Success)
			// The tenant of par prepares "kid" directories and symlinks to
			// the whole root and to the host's /.
			h.docker("exec", containerName(par), "sh", "-c",
				"cd /home/agent/workspace && mkdir kid && echo mine > kid/f && ln -s / kid2 && ln -s .. kid3").Assert(t, icmd.Success)
			for _, kid := range []string{"kid", "kid2", "kid3", "kid/deeper"} {
				sub := h.track(par + "/" + kid)
				res := h.ws(ensureArgs(flags, sub)...)
				res.Assert(t, icmd.Expected{ExitCode: 1, Err: fmt.Sprintf("workspace %q overlaps workspace %q", sub, par)})
				assert.Check(t, !h.exists("modern", containerName(sub)), "%s was created", sub)
			}

			// The other way round: the inner one first.
			outer := h.short("-outer")
			inner := h.track(outer + "/team/bob")
			h.ws(ensureArgs(flags, inner)...).Assert(t, icmd.Success)
			for _, s := range []string{outer, outer + "/team"} {
				h.track(s)
				h.ws(ensureArgs(flags, s)...).Assert(t, icmd.Expected{ExitCode: 1, Err: fmt.Sprintf("workspace %q overlaps workspace %q", s, inner)})
				assert.Check(t, !h.exists("modern", containerName(s)))
			}
			// Below a plain directory: fine.
			sibling := h.track(outer + "/team/carol")
			h.ws(ensureArgs(flags, sibling)...).Assert(t, icmd.Success)

			// The container of the inner one is removed, its data stays: still refused.
			h.ws("rm", "-f", inner).Assert(t, icmd.Success)
			h.ws(ensureArgs(flags, outer+"/team")...).Assert(t, icmd.Expected{ExitCode: 1, Err: "overlaps workspace"})
			assert.Check(t, !h.exists("modern", containerName(outer+"/team")))
		})
	}
}

// The tenant of a workspace swaps every new directory in its workspace for
// a symlink to another workspace, as fast as it can, while new workspaces
// are asked for below it: none is made.
func TestTenantRacerCannotRedirectANewWorkspace(t *testing.T) {
	requireEngine(t, "modern")
	for _, mode := range []string{"bind", "volume_subpath"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			flags := modeArgs(h, mode)
			par, victim := h.short("-par"), h.short("-victim")
			h.ws(ensureArgs(flags, par, victim)...).Assert(t, icmd.Success)
			h.docker("exec", containerName(victim), "sh", "-c", "echo secret > /home/agent/workspace/secret").Assert(t, icmd.Success)
			h.docker("exec", "-d", containerName(par), "sh", "-c",
				`cd /home/agent/workspace; while :; do for d in kid*; do if [ -d "$d" ] && [ ! -L "$d" ]; then mv "$d" "$d.moved" && ln -s "../`+victim+`" "$d"; fi; done; done`).
				Assert(t, icmd.Success)
			for i := range 5 {
				sub := h.track(fmt.Sprintf("%s/kid%d", par, i))
				h.ws(ensureArgs(flags, sub)...).Assert(t, icmd.Expected{ExitCode: 1, Err: "overlaps workspace"})
				assert.Check(t, !h.exists("modern", containerName(sub)))
			}
		})
	}
}

// A pair made before overlaps were refused (by hand here, with the labels of
// a container of an older version): the tenant of the outer one swaps the
// inner one's directory for a symlink to another workspace while the inner
// one is stopped. The inner one is never started again, and doctor says why.
func TestOverlappingPairIsNotStarted(t *testing.T) {
	requireEngine(t, "modern")
	for _, mode := range []string{"bind", "volume_subpath"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			flags := modeArgs(h, mode)
			par, victim := h.short("-par"), h.short("-victim")
			kid := h.track(par + "/kid")
			h.ws(ensureArgs(flags, par, victim)...).Assert(t, icmd.Success)
			h.docker("exec", containerName(victim), "sh", "-c", "echo secret > /home/agent/workspace/secret").Assert(t, icmd.Success)
			h.docker("exec", containerName(par), "mkdir", "/home/agent/workspace/kid").Assert(t, icmd.Success)
			mnt := "type=bind,src=" + filepath.Join(h.workspaceRoot(), kid) + ",dst=/home/agent/workspace"
			if mode != "bind" {
				mnt = "type=volume,src=" + flags[3] + ",dst=/home/agent/workspace,volume-subpath=" + kid
			}
			h.docker("create", "--name", containerName(kid), "--label", "docker-workspace.subdir="+kid, "--label", "docker-workspace.mode="+mode,
				"--mount", mnt, "--entrypoint", "sleep", image, "infinity").Assert(t, icmd.Success)

			h.docker("exec", containerName(par), "sh", "-c", "cd /home/agent/workspace && mv kid kid.old && ln -s ../"+victim+" kid").Assert(t, icmd.Success)
			res := h.ws(ensureArgs(flags, kid)...)
			res.Assert(t, icmd.Expected{ExitCode: 1, Err: "refusing to start " + containerName(kid)})
			assert.Check(t, is.Equal(h.inspect("modern", containerName(kid)).State.Status, "created"), "it was started")
			res = h.ws(append([]string{"doctor"}, flags...)...)
			res.Assert(t, icmd.Expected{ExitCode: 1})
			pair := []string{fmt.Sprintf("workspace %q (container %s)", par, containerName(par)), fmt.Sprintf("workspace %q (container %s)", kid, containerName(kid))}
			assert.Check(t, strings.Contains(res.Stdout(), pair[0]+" and "+pair[1]+" overlap") || strings.Contains(res.Stdout(), pair[1]+" and "+pair[0]+" overlap"),
				res.Stdout())
		})
	}
}

// Someone replaces a stopped workspace's directory with a symlink (on a
// local engine the plugin looks at every element again before a start).
func TestSymlinkSwapWhileStoppedIsRefused(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	a, victim := h.subdir("-a"), h.subdir("-victim")
	h.ws("ensure", a, victim).Assert(t, icmd.Success)
	h.ws("stop", "-t", "1", a).Assert(t, icmd.Success)
	dir := filepath.Join(h.workspaceRoot(), a)
	assert.NilError(t, os.Rename(dir, dir+".old"))
	assert.NilError(t, os.Symlink(filepath.Join(h.workspaceRoot(), victim), dir))
	h.ws("ensure", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "/" + a + " is a symlink: symlinks are never followed below a workspace root"})
	assert.Check(t, is.Equal(h.inspect("modern", containerName(a)).State.Status, "exited"))
	for _, root := range []string{"/", "/etc"} {
		assert.NilError(t, os.Remove(dir))
		assert.NilError(t, os.Symlink(root, dir))
		h.ws("ensure", a).Assert(t, icmd.Expected{ExitCode: 1, Err: "is a symlink"})
	}
}

// runRacer is what a hostile local user runs (TestMain calls it in a copy of
// the test binary, as another uid): it replaces every directory that
// appears in dir with a symlink to target, as fast as it can, until
// SIGTERM, then prints how often it managed to.
func runRacer(dir, target string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	swapped, refused := 0, 0
	giveUp := time.After(5 * time.Minute) // never outlive a test run
	for {
		select {
		case <-giveUp:
			return 1
		case <-stop:
			fmt.Printf("swapped %d refused %d\n", swapped, refused)
			return 0
		default:
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !e.IsDir() || strings.Contains(e.Name(), ".moved") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if os.Rename(p, p+".moved") != nil {
				refused++
				continue
			}
			if os.Symlink(target, p) == nil {
				swapped++
			}
		}
	}
}

// startRacer runs runRacer as uid:gid in a copy of this test binary.
func startRacer(t *testing.T, uid int, dir, target string) (stop func() string) {
	t.Helper()
	bin, err := os.MkdirTemp("", "e2e-racer-")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(bin) })
	assert.NilError(t, os.Chmod(bin, 0o755))
	self, err := os.Executable()
	assert.NilError(t, err)
	copyFile(t, self, filepath.Join(bin, "racer"), 0o755)
	cmd := exec.Command(filepath.Join(bin, "racer"))
	cmd.Env = append(os.Environ(), "E2E_RACER_DIR="+dir, "E2E_RACER_TARGET="+target)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	assert.NilError(t, cmd.Start())
	var once sync.Once
	stop = func() string {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		})
		return out.String()
	}
	t.Cleanup(func() { stop() })       // also when the test fails before it stops it
	time.Sleep(100 * time.Millisecond) // let it run
	return stop
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	assert.NilError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	assert.NilError(t, err)
	_, err = io.Copy(dst, src)
	assert.NilError(t, err)
	assert.NilError(t, dst.Close())
}

// A local user (uid 1000, the workspaces' user) swaps each new directory for
// a symlink to a directory of root's, racing ensure, which creates and then
// gives the directory away. Neither the redirect nor the chown ever lands:
// the directories it could race in are root's, and a root it owns is refused.
func TestLocalRacerCannotRedirectOrChown(t *testing.T) {
	requireEngine(t, "modern")
	if os.Geteuid() != 0 {
		t.Skip("the racer runs as another user: this needs root")
	}
	const racer = 1000
	base, err := os.MkdirTemp("", "e2e-race-")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	assert.NilError(t, os.Chmod(base, 0o755))
	target := filepath.Join(base, "roots-only")
	assert.NilError(t, os.Mkdir(target, 0o700))
	targetOK := func() {
		t.Helper()
		fi, err := os.Lstat(target)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(ownerOf(t, fi), "0:0"), "the racer got the target chowned")
		assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o700)))
	}

	t.Run("root as ensure makes it", func(t *testing.T) {
		h := newHarness(t)
		root := filepath.Join(base, "ws")
		flags := []string{"--workspace-root", root, "--shared-dir", filepath.Join(t.TempDir(), "shared")}
		team := h.subdir("-team")
		h.ws(ensureArgs(flags, h.track(team+"/first"))...).Assert(t, icmd.Success)
		fi, err := os.Stat(filepath.Join(root, team))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(ownerOf(t, fi), "0:0"), "a parent directory was given to the container user")
		stop := startRacer(t, racer, filepath.Join(root, team), target)
		for i := range 10 {
			sub := h.track(fmt.Sprintf("%s/b%d", team, i))
			h.ws(ensureArgs(flags, sub)...).Assert(t, icmd.Success)
			fi, err := os.Lstat(filepath.Join(root, sub))
			assert.NilError(t, err)
			assert.Check(t, fi.IsDir(), "%s is no directory", sub)
			assert.Check(t, is.Equal(ownerOf(t, fi), "1000:1000"))
			_, _, src, _ := h.inspect("modern", containerName(sub)).mountAt(t, "/home/agent/workspace")
			assert.Check(t, is.Equal(src, filepath.Join(root, sub)))
		}
		out := stop()
		t.Logf("racer: %s", out)
		assert.Check(t, is.Contains(out, "swapped 0 "))
		targetOK()
	})

	t.Run("root that the racer owns", func(t *testing.T) {
		h := newHarness(t)
		root := filepath.Join(base, "owned")
		assert.NilError(t, os.Mkdir(root, 0o755))
		assert.NilError(t, os.Chown(root, racer, racer))
		flags := []string{"--workspace-root", root, "--shared-dir", filepath.Join(t.TempDir(), "shared2")}
		stop := startRacer(t, racer, root, target)
		for i := range 5 {
			sub := h.subdir(strconv.Itoa(i))
			h.ws(ensureArgs(flags, sub)...).Assert(t, icmd.Expected{ExitCode: 1, Err: "is owned by uid 1000: whoever owns a directory on the path of a workspace can redirect it"})
			assert.Check(t, !h.exists("modern", containerName(sub)))
		}
		t.Logf("racer: %s", stop())
		targetOK()
	})

	t.Run("shared directory in a directory the racer can write", func(t *testing.T) {
		h := newHarness(t)
		open := filepath.Join(base, "open")
		assert.NilError(t, os.Mkdir(open, 0o777))
		assert.NilError(t, os.Chmod(open, os.ModeSticky|0o777)) // as /tmp
		flags := []string{"--workspace-root", filepath.Join(base, "ws3"), "--shared-dir", filepath.Join(open, "shared")}
		stop := startRacer(t, racer, open, target)
		sub := h.subdir("")
		// Refused: others can reach it (so they could run what a tenant
		// leaves there setuid), and they could make it first.
		h.ws(ensureArgs(flags, sub)...).Assert(t, icmd.Expected{ExitCode: 125, Err: "shared directory " + filepath.Join(open, "shared") + ": every directory above it can be entered by other local users"})
		assert.Check(t, !h.exists("modern", containerName(sub)))
		_, err := os.Stat(filepath.Join(open, "shared"))
		assert.Check(t, os.IsNotExist(err), "the shared directory stayed")
		t.Logf("racer: %s", stop())
		targetOK()
	})
}

// The shared directory (volume) must be none of the workspaces' and must
// not hold them.
func TestSharedOverlappingTheRootIsRefused(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	s := h.subdir("")
	root := h.workspaceRoot()
	for _, shared := range []string{root, filepath.Join(root, "shared"), filepath.Dir(root)} {
		h.ws("ensure", "--shared-dir", shared, s).Assert(t, icmd.Expected{ExitCode: 125, Err: "overlaps the workspace root"})
	}
	vol := h.volume("modern", "ws")
	h.ws("ensure", "--mount-mode", "volume_subpath", "--workspace-volume", vol, "--shared-volume", vol, s).
		Assert(t, icmd.Expected{ExitCode: 125, Err: "is the workspace volume"})
	assert.Check(t, !h.exists("modern", containerName(s)))
	_, err := os.Stat(filepath.Join(root, s))
	assert.Check(t, os.IsNotExist(err))
}

// Names the engine cannot take, or that display deceptively, are refused
// before anything is made.
func TestUnnameableSubdirsAreRefused(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	for _, s := range []string{"alıce", "longſ", "evil\u202egnp.exe", "zero\u200bwidth", "line\u2028sep", ".docker-workspace"} {
		h.ws("ensure", s).Assert(t, icmd.Expected{ExitCode: 125, Err: "invalid workspace subdir"})
	}
	entries, _ := os.ReadDir(h.workspaceRoot())
	assert.Check(t, is.Len(entries, 0), "something was made: %v", entries)
}

// A local user (uid 1000) plants, in /tmp, symlinks where a root or a shared
// directory will be configured: to /etc, to a directory of root's. They are
// not followed: nothing of /etc is mounted, nothing of root's given away.
func TestPlantedSymlinksOnTheWayAreRefused(t *testing.T) {
	requireEngine(t, "modern")
	if os.Geteuid() != 0 {
		t.Skip("planting as another user needs root")
	}
	h := newHarness(t)
	secret := t.TempDir() // root's, 0700
	plant := func(target string) string {
		link := filepath.Join(os.TempDir(), "e2e-plant-"+h.id+"-"+filepath.Base(target))
		assert.NilError(t, os.Symlink(target, link))
		assert.NilError(t, os.Lchown(link, 1000, 1000))
		t.Cleanup(func() { os.Remove(link) })
		return link
	}
	etc, priv := plant("/etc"), plant(secret)
	s := h.subdir("")
	for _, tc := range []struct {
		args []string
		err  string
	}{
		// No symlink at all on the way to a shared directory (one of
		// root's may be a tenant's, in another shared directory).
		{[]string{"--shared-dir", etc}, "its path goes through a symlink"},
		{[]string{"--shared-dir", priv}, "its path goes through a symlink"},
		{[]string{"--workspace-root", priv}, "is a symlink owned by uid 1000"},
		{[]string{"--workspace-root", filepath.Join(etc, "ws")}, "is a symlink owned by uid 1000"},
	} {
		h.ws(append(append([]string{"ensure"}, tc.args...), s)...).Assert(t, icmd.Expected{ExitCode: 1, Err: tc.err})
	}
	assert.Check(t, !h.exists("modern", containerName(s)))
	entries, _ := os.ReadDir(secret)
	assert.Check(t, is.Len(entries, 0))
	_, err := os.Stat("/etc/ws")
	assert.Check(t, os.IsNotExist(err), "a directory was made in /etc")
}

// Two roots that meet (one inside the other): refused both ways, so no
// two workspaces share a directory, and no workspace holds another root's.
func TestNestedRootsAreRefused(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	base := t.TempDir()
	root := filepath.Join(base, "root")
	p := h.short("-p")
	h.ws("ensure", "--workspace-root", root, p+"/q").Assert(t, icmd.Success)
	h.track(p + "/q")
	h.ws("ensure", "--workspace-root", filepath.Join(root, p), "q").Assert(t, icmd.Expected{ExitCode: 1, Err: "the root of other workspaces: roots must not nest"})
	h.track("root")
	h.ws("ensure", "--workspace-root", base, "root").Assert(t, icmd.Expected{ExitCode: 1, Err: "is the root of other workspaces: roots must not nest"})
	assert.Check(t, !h.exists("modern", "gws-q"))
	assert.Check(t, !h.exists("modern", "gws-root"))
}

// One host root used through two engines at once (their container lists do
// not see each other's): of two overlapping workspaces, one is made.
func TestOverlapAcrossEnginesOnOneRoot(t *testing.T) {
	requireEngine(t, "modern")
	requireEngine(t, "legacy")
	h := newHarness(t)
	root := filepath.Join(t.TempDir(), "root")
	both := 0
	for i := range 6 {
		outer := h.short(fmt.Sprintf("-e%d", i))
		inner := h.track(outer + "/x")
		args := []string{"--config", env.configDir}
		ens := func(ctx, s string) *icmd.Result {
			return icmd.StartCmd(icmd.Cmd{Command: append([]string{"docker"}, append(args, "--context", ctx, "workspace", "ensure", "--workspace-root", root, s)...), Env: h.env})
		}
		a, b := ens("modern", outer), ens("legacy", inner)
		ra, rb := icmd.WaitOnCmd(time.Minute, a), icmd.WaitOnCmd(time.Minute, b)
		if ra.ExitCode == 0 && rb.ExitCode == 0 {
			both++
		}
		for _, r := range []*icmd.Result{ra, rb} {
			if r.ExitCode != 0 {
				assert.Check(t, is.Contains(r.Stderr(), "overlaps"), r.Combined())
			}
		}
	}
	assert.Check(t, is.Equal(both, 0), "both of two overlapping workspaces were made in %d of 6 rounds", both)
}

// Remote bind mode: the engine's host's root must be root's and private.
func TestRemoteRootOthersCanChangeIsRefused(t *testing.T) {
	requireEngine(t, "tls")
	h := newHarness(t)
	base := t.TempDir()
	root := filepath.Join(base, "root")
	assert.NilError(t, os.Mkdir(root, 0o755))
	assert.NilError(t, os.Chown(root, 1000, 1000))
	s := h.subdir("")
	h.docker("--context", "tls", "workspace", "ensure", "--workspace-root", root, "--shared-dir", filepath.Join(base, "shared"), s).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "on the engine's host is owned by uid 1000"})
	assert.Check(t, !h.exists("modern", containerName(s)))
	// A shared directory that is a symlink (here to the root itself).
	assert.NilError(t, os.Chown(root, 0, 0))
	assert.NilError(t, os.Symlink(root, filepath.Join(base, "shlink")))
	h.docker("--context", "tls", "workspace", "ensure", "--workspace-root", root, "--shared-dir", filepath.Join(base, "shlink"), s).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "is a symlink"})
	assert.Check(t, !h.exists("modern", containerName(s)))

	ensure := func(root, shared string) *icmd.Result {
		return h.docker("--context", "tls", "workspace", "ensure", "--workspace-root", root, "--shared-dir", shared, s)
	}
	// A directory above the root that another user owns: they could swap
	// the root for a symlink between the check and the mount.
	mallory := filepath.Join(base, "mallory")
	assert.NilError(t, os.Mkdir(mallory, 0o755))
	assert.NilError(t, os.Chown(mallory, 1000, 1000))
	ensure(filepath.Join(mallory, "root"), filepath.Join(base, "shared")).
		Assert(t, icmd.Expected{ExitCode: 1, Err: mallory + " on the engine's host is owned by uid 1000"})
	// A directory above it that is a symlink (made by that user).
	assert.NilError(t, os.Symlink(mallory, filepath.Join(base, "via")))
	ensure(filepath.Join(base, "via", "root"), filepath.Join(base, "shared")).
		Assert(t, icmd.Expected{ExitCode: 1, Err: filepath.Join(base, "via") + " on the engine's host is a symlink"})
	// A root to make straight in a directory everyone can write (/tmp):
	// another user could make it first.
	sticky := filepath.Join(base, "sticky")
	assert.NilError(t, os.Mkdir(sticky, 0o755))
	assert.NilError(t, os.Chmod(sticky, 0o777|os.ModeSticky))
	ensure(filepath.Join(sticky, "root"), filepath.Join(base, "shared")).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "can be written by others, who could make it first"})
	_, err := os.Lstat(filepath.Join(sticky, "root"))
	assert.Check(t, os.IsNotExist(err))
	// Roots must not nest, and the shared directory is in none: a root
	// made in a workspace of the first, a shared directory in the first.
	nested := h.track(s + "/x")
	h.docker("--context", "tls", "workspace", "ensure", "--workspace-root", root, "--shared-dir", filepath.Join(base, "shared"), nested).
		Assert(t, icmd.Success)
	ensure(filepath.Join(root, s), filepath.Join(base, "shared2")).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "workspace root " + filepath.Join(root, s) + " is in " + root + " on the engine's host, the root of other workspaces"})
	_, err = os.Lstat(filepath.Join(root, s, ".docker-workspace"))
	assert.Check(t, os.IsNotExist(err), "a refused root stays marked as one")
	h.docker("rm", "-f", containerName(nested)).Assert(t, icmd.Success)
	other := filepath.Join(base, "other-root")
	ensure(other, filepath.Join(root, "team-shared")).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "shared directory " + filepath.Join(root, "team-shared") + " is in " + root + " on the engine's host, the root of other workspaces"})
	assert.Check(t, !h.exists("modern", containerName(s)))
	_, err = os.Lstat(filepath.Join(root, "team-shared"))
	assert.Check(t, os.IsNotExist(err), "the refused shared directory was made")
}

// A tenant, root in its container, leaves a setuid-root program in the
// shared directory (having made it 0755 again): no other local user can run
// it. A shared directory that other users can reach is refused; the one
// the tool makes is 0700, below a directory nobody else can enter.
func TestSetuidProgramInTheSharedDirectoryIsOutOfReach(t *testing.T) {
	requireEngine(t, "modern")
	if os.Geteuid() != 0 {
		t.Skip("needs root: the program is run as another user")
	}
	h := newHarness(t)
	open, err := os.MkdirTemp("", "e2e-suid-")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(open) })
	assert.NilError(t, os.Chmod(open, 0o755)) // any local user may walk here
	s := h.subdir("")
	// A configuration to choose again: bad input, 125 (issue 22, new-user
	// pass), nothing made.
	h.ws("ensure", "--workspace-root", filepath.Join(t.TempDir(), "ws"), "--shared-dir", filepath.Join(open, "shared"), s).
		Assert(t, icmd.Expected{ExitCode: 125, Err: "every directory above it can be entered by other local users"})
	assert.Check(t, !h.exists("modern", containerName(s)))
	// doctor says so first.
	h.ws("doctor", "--workspace-root", filepath.Join(t.TempDir(), "ws"), "--shared-dir", filepath.Join(open, "shared")).
		Assert(t, icmd.Expected{ExitCode: 1, Out: "every directory above it can be entered by other local users"})

	private := t.TempDir() // 0700
	shared := filepath.Join(private, "shared")
	h.ws("ensure", "--workspace-root", filepath.Join(private, "ws"), "--shared-dir", shared, s).Assert(t, icmd.Success)
	fi, err := os.Stat(shared)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o700)))
	h.docker("exec", "-u", "0", containerName(s), "sh", "-c",
		"chmod 755 /home/agent/shared && cp /bin/busybox /home/agent/shared/sh && chmod 4755 /home/agent/shared/sh").Assert(t, icmd.Success)
	res := icmd.RunCmd(icmd.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", filepath.Join(shared, "sh"), "id", "-u"))
	assert.Check(t, res.ExitCode != 0, "another user ran the tenant's setuid program: %s", res.Combined())
	assert.Check(t, !strings.Contains(res.Stdout(), "0\n"))
}

// A shared directory is never a workspace, nor in one, nor above one, across
// configurations: every container that shares it would see the workspace.
func TestSharedDirectoryOfAnotherConfigurationIsNoWorkspace(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	base := t.TempDir()
	a, b := h.subdir("-a"), h.subdir("-b")
	// a shares base/grp/<b>: b in a root base/grp would be that directory.
	h.ws("ensure", "--workspace-root", filepath.Join(base, "rootA"), "--shared-dir", filepath.Join(base, "grp", b), a).Assert(t, icmd.Success)
	h.ws("ensure", "--workspace-root", filepath.Join(base, "grp"), "--shared-dir", filepath.Join(base, "sharedB"), b).
		Assert(t, icmd.Expected{ExitCode: 1, Err: `workspace "` + b + `" would be, hold or lie in the shared directory of workspace "` + a + `"`})
	assert.Check(t, !h.exists("modern", containerName(b)))
	// And a root inside a shared directory that exists, root's (so that its
	// owner does not refuse it first): through the remote path too.
	sh := filepath.Join(base, "shR")
	assert.NilError(t, os.Mkdir(sh, 0o755))
	c, d := h.subdir("-c"), h.subdir("-d")
	h.docker("--context", "tls", "workspace", "ensure", "--workspace-root", filepath.Join(base, "rootC"), "--shared-dir", sh, c).Assert(t, icmd.Success)
	h.docker("--context", "tls", "workspace", "ensure", "--workspace-root", filepath.Join(sh, "rootD"), "--shared-dir", filepath.Join(base, "sharedD"), d).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "would be, hold or lie in the shared directory of workspace \"" + c + "\""})
	assert.Check(t, !h.exists("modern", containerName(d)))

	// A shared directory in another's: that one's tenants (host root in
	// their containers) could read it, and swap it for a symlink to any
	// directory of the host (root's, so it would be followed).
	e, f := h.subdir("-e"), h.subdir("-f")
	s1 := filepath.Join(base, "S1") // made by an administrator, not empty: stays root's
	assert.NilError(t, os.Mkdir(s1, 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(s1, "README"), []byte("shared\n"), 0o644))
	h.ws("ensure", "--workspace-root", filepath.Join(base, "rootE"), "--shared-dir", s1, e).Assert(t, icmd.Success)
	h.ws("ensure", "--workspace-root", filepath.Join(base, "rootF"), "--shared-dir", filepath.Join(s1, "f"), f).
		Assert(t, icmd.Expected{ExitCode: 1, Err: `the shared directory of workspace "` + f + `" would hold or lie in the shared directory of workspace "` + e + `"`})
	secret := filepath.Join(base, "secret")
	assert.NilError(t, os.Mkdir(secret, 0o700))
	h.docker("exec", "-u", "0", containerName(e), "ln", "-s", secret, "/home/agent/shared/link").Assert(t, icmd.Success)
	h.ws("rm", "-f", e).Assert(t, icmd.Success) // gone: its tenant's symlink stays
	h.ws("ensure", "--workspace-root", filepath.Join(base, "rootF"), "--shared-dir", filepath.Join(s1, "link"), f).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "its path goes through a symlink"})
	assert.Check(t, !h.exists("modern", containerName(f)))
}

// On an engine's host, a shared directory that another user owns in a
// directory everyone can write (/tmp) is refused: its owner could swap it
// for a symlink to a root before a start.
func TestRemoteSharedDirectoryOthersCanSwapIsRefused(t *testing.T) {
	requireEngine(t, "tls")
	h := newHarness(t)
	base := t.TempDir()
	sticky := filepath.Join(base, "st")
	assert.NilError(t, os.Mkdir(sticky, 0o755))
	assert.NilError(t, os.Chmod(sticky, 0o777|os.ModeSticky))
	shared := filepath.Join(sticky, "shared")
	assert.NilError(t, os.Mkdir(shared, 0o755))
	assert.NilError(t, os.Chown(shared, 1000, 1000))
	s := h.subdir("")
	h.docker("--context", "tls", "workspace", "ensure", "--workspace-root", filepath.Join(base, "root"), "--shared-dir", shared, s).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "shared directory " + shared + " on the engine's host is owned by uid 1000 in " + sticky + ", which others can write"})
	assert.Check(t, !h.exists("modern", containerName(s)))
	_, err := os.Lstat(filepath.Join(base, "root"))
	assert.Check(t, os.IsNotExist(err), "the root was made although the shared directory was refused")
}

// Any local user can make a directory named like a root's marker in a
// sticky directory (/tmp): it does not make the roots below refused
// (issue 17, 7).
func TestAMarkerAnyUserCanMakeSaysNothing(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	base, err := os.MkdirTemp("", "e2e-marker-")
	assert.NilError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	assert.NilError(t, os.Chmod(base, 0o755)) // uid 1000 gets to the sticky directory
	sticky := filepath.Join(base, "tmp")
	assert.NilError(t, os.Mkdir(sticky, 0o755))
	assert.NilError(t, os.Chmod(sticky, os.ModeSticky|0o777))
	icmd.RunCommand("setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups", "mkdir", filepath.Join(sticky, ".docker-workspace")).Assert(t, icmd.Success)
	root, shared := filepath.Join(sticky, "root"), filepath.Join(t.TempDir(), "shared")
	s := h.subdir("")
	h.ws("ensure", "--workspace-root", root, "--shared-dir", shared, s).Assert(t, icmd.Success)
	h.ws("rm", "-f", s).Assert(t, icmd.Success)
	// On an engine's host too, through its helper (attack on issue 17: B4).
	requireEngine(t, "tls")
	remote := filepath.Join(sticky, "remote")
	assert.NilError(t, os.Mkdir(remote, 0o700))
	h.docker("--context", "tls", "workspace", "ensure", "--workspace-root", remote, "--shared-dir", filepath.Join(t.TempDir(), "rshared"), s).Assert(t, icmd.Success)
}

// A volume that binds a host directory is compared by that directory
// (issue 17, 2 and 3): one above another configuration's root does not
// reach its workspaces (even when only their records are left), and one
// in another configuration's shared directory is refused even when a
// tenant made that directory root's.
func TestBindVolumesMeetOtherConfigurations(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	base, apart := t.TempDir(), t.TempDir() // 0700, root's
	for _, d := range []string{"sh2", "sh3"} {
		assert.NilError(t, os.Mkdir(filepath.Join(apart, d), 0o700))
	}
	eve := h.subdir("-eve")
	bindFlags := []string{"--workspace-root", filepath.Join(base, "root"), "--shared-dir", filepath.Join(base, "shared")}
	h.ws(append(append([]string{"ensure"}, bindFlags...), eve)...).Assert(t, icmd.Success)
	h.docker("exec", containerName(eve), "sh", "-c", "echo secret-of-eve > /home/agent/workspace/s").Assert(t, icmd.Success)
	bindVolume := func(suffix string) string {
		name := "e2e-bv-" + h.id + "-" + suffix
		t.Cleanup(func() { h.docker("volume", "rm", "-f", name) })
		return name
	}
	volFlags := func(ws, wsDev, sh, shDev string) []string {
		return []string{"--mount-mode", "volume_subpath", "--workspace-volume", bindVolume(ws), "--shared-volume", bindVolume(sh),
			"--volume-opt", "type=none", "--volume-opt", "o=bind", "--volume-opt", "device=" + wsDev,
			"--shared-volume-opt", "type=none", "--shared-volume-opt", "o=bind", "--shared-volume-opt", "device=" + shDev}
	}

	// 2: a volume of base reaches root/<eve> through the other root; so
	// after eve's container is gone (its record is left).
	through := filepath.Join("root", eve)
	h.track(through)
	above := volFlags("ws2", base, "sh2", filepath.Join(apart, "sh2"))
	h.ws(append(append([]string{"ensure"}, above...), through)...).
		Assert(t, icmd.Expected{ExitCode: 1, Err: `overlaps workspace "` + eve + `"`})
	h.ws("rm", "-f", eve).Assert(t, icmd.Success)
	h.ws(append(append([]string{"ensure"}, above...), through)...).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "root in volume e2e-bv-" + h.id + "-ws2 holds .docker-workspace: it is the root of other workspaces"})
	assert.Check(t, !h.exists("modern", containerName(through)))
	h.docker("volume", "rm", "-f", "e2e-bv-"+h.id+"-ws2") // else its storage holds the next one's

	// 3: a tenant of the bind configuration makes its shared directory
	// root's: a volume there would be read by every tenant of it.
	h.ws(append(append([]string{"ensure"}, bindFlags...), eve)...).Assert(t, icmd.Success)
	h.docker("exec", "-u", "0", containerName(eve), "sh", "-c", "chown 0:0 /home/agent/shared && chmod 755 /home/agent/shared").Assert(t, icmd.Success)
	ev := h.subdir("-ev")
	in := volFlags("ws3", filepath.Join(base, "shared"), "sh3", filepath.Join(apart, "sh3"))
	h.ws(append(append([]string{"ensure"}, in...), ev)...).
		Assert(t, icmd.Expected{ExitCode: 1, Err: `workspace "` + ev + `" would be, hold or lie in the shared directory of workspace "` + eve + `"`})
	assert.Check(t, !h.exists("modern", containerName(ev)))
	_, err := os.Lstat(filepath.Join(base, "shared", ev))
	assert.Check(t, os.IsNotExist(err), "the refused workspace's directory was made in the other's shared directory")
}

// A refused ensure leaves no root behind, and a root is refused around a
// running one (issue 17, 8): on this host and through a remote engine's
// helper. Else a refused root would refuse every root below it, and an
// accepted outer root would refuse the running inner one's next ensure.
func TestRefusedRootsLeaveNoMarker(t *testing.T) {
	requireEngine(t, "modern")
	requireEngine(t, "tls")
	h := newHarness(t)
	for _, ctx := range []string{"modern", "tls"} {
		base := t.TempDir()
		shared := filepath.Join(t.TempDir(), "shared")
		ens := func(root string, args ...string) *icmd.Result {
			return h.docker(append([]string{"--context", ctx, "workspace", "ensure", "--workspace-root", root, "--shared-dir", shared}, args...)...)
		}
		// Refused (a user the image lacks) after its root was made: no root
		// stays, and a root inside it is fine.
		outer := filepath.Join(base, "outer")
		x, y := h.subdir("-x-"+ctx), h.subdir("-y-"+ctx)
		ens(outer, "--user", "nobody-here", x).Assert(t, icmd.Expected{ExitCode: 1, Err: `user "nobody-here"`})
		_, err := os.Lstat(filepath.Join(outer, ".docker-workspace"))
		assert.Check(t, os.IsNotExist(err), "%s: the refused root is marked as one", ctx)
		// Refused only when its container starts, after its record was
		// written (attack on issue 17: B5): on an engine's host the marker
		// stays, and records nothing.
		ens(outer, "--security-opt", "seccomp=/nonexist", x).Assert(t, icmd.Expected{ExitCode: 1, Err: "seccomp"})
		assert.Check(t, !h.exists("modern", containerName(x)))
		assert.NilError(t, os.MkdirAll(filepath.Join(outer, "inner"), 0o700))
		ens(filepath.Join(outer, "inner"), y).Assert(t, icmd.Success)

		// A root around the running one is refused; the inner one goes on.
		z := h.subdir("-z-" + ctx)
		ens(outer, z).Assert(t, icmd.Expected{ExitCode: 1, Err: "roots must not nest"})
		if ctx == "modern" { // on an engine's host, the marker of x's refusal above stays, recording nothing
			_, err = os.Lstat(filepath.Join(outer, ".docker-workspace"))
			assert.Check(t, os.IsNotExist(err), "%s: the refused outer root is marked as one", ctx)
		}
		h.docker("--context", ctx, "stop", containerName(y)).Assert(t, icmd.Success)
		ens(filepath.Join(outer, "inner"), y).Assert(t, icmd.Success)
		h.docker("--context", ctx, "inspect", "-f", "{{.State.Running}}", containerName(y)).Assert(t, icmd.Expected{Out: "true"})
	}
}

// Bind roots and bind volumes told apart (the attack on issue 17's fixes):
// a volume whose directory is a bind root itself does not take its
// workspaces (B2); a bind shared directory above a running bind volume's
// workspaces (B3), and a bind root around them (B6), are refused.
func TestBindRootsAndBindVolumesAreToldApart(t *testing.T) {
	requireEngine(t, "modern")
	h := newHarness(t)
	base, apart := t.TempDir(), t.TempDir()
	vol := func(suffix, dev string) []string {
		ws, sh := "e2e-ta-"+h.id+"-"+suffix, "e2e-ta-"+h.id+"-"+suffix+"-sh"
		shDev := filepath.Join(apart, suffix)
		assert.NilError(t, os.MkdirAll(shDev, 0o700))
		assert.NilError(t, os.MkdirAll(dev, 0o700))
		t.Cleanup(func() { h.docker("volume", "rm", "-f", ws, sh) })
		return []string{"--mount-mode", "volume_subpath", "--workspace-volume", ws, "--shared-volume", sh,
			"--volume-opt", "type=none", "--volume-opt", "o=bind", "--volume-opt", "device=" + dev,
			"--shared-volume-opt", "type=none", "--shared-volume-opt", "o=bind", "--shared-volume-opt", "device=" + shDev}
	}
	ensure := func(flags []string, subdir string) *icmd.Result {
		return h.ws(append(append([]string{"ensure"}, flags...), subdir)...)
	}

	// B2: the volume's directory is the root of a bind configuration.
	root := filepath.Join(base, "root")
	w1, w2 := h.subdir("-w1"), h.subdir("-w2")
	bind := []string{"--workspace-root", root, "--shared-dir", filepath.Join(apart, "bind-shared")}
	ensure(bind, w1).Assert(t, icmd.Success)
	h.docker("exec", containerName(w1), "sh", "-c", "echo secret > /home/agent/workspace/s").Assert(t, icmd.Success)
	onRoot := vol("b2", root)
	ensure(onRoot, w2).Assert(t, icmd.Expected{ExitCode: 1, Err: "is a workspace root of bind mode (another configuration's)"})
	h.ws("rm", "-f", w1).Assert(t, icmd.Success)
	ensure(onRoot, w1).Assert(t, icmd.Expected{ExitCode: 1, Err: "is a workspace root of bind mode (another configuration's)"})
	assert.Check(t, !h.exists("modern", containerName(w1)))

	// B3: a bind shared directory above a running bind volume's directory.
	v1, b1 := h.subdir("-v1"), h.subdir("-b1")
	ensure(vol("b3", filepath.Join(base, "k", "vroot")), v1).Assert(t, icmd.Success)
	ensure([]string{"--workspace-root", filepath.Join(base, "r4"), "--shared-dir", filepath.Join(base, "k")}, b1).
		Assert(t, icmd.Expected{ExitCode: 1, Err: `the shared directory of workspace "` + b1 + `" would be, hold or lie in the directory of workspace "` + v1 + `"`})
	assert.Check(t, !h.exists("modern", containerName(b1)))

	// B6: a bind root around a running bind volume's directory; the
	// volume's next workspace is still made.
	v2, v3, o1 := h.subdir("-v2"), h.subdir("-v3"), h.subdir("-o1")
	inner := vol("b6", filepath.Join(base, "m", "vr"))
	ensure(inner, v2).Assert(t, icmd.Success)
	ensure([]string{"--workspace-root", filepath.Join(base, "m"), "--shared-dir", filepath.Join(apart, "sh4")}, o1).
		Assert(t, icmd.Expected{ExitCode: 1, Err: "roots must not nest"})
	ensure(inner, v3).Assert(t, icmd.Success)
}
