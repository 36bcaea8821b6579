package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/docker-workspace/docker-workspace/sandbox"
	"github.com/docker-workspace/docker-workspace/sandbox/egress/proxy"
)

// proxyRepository is the repository of the egress proxy's images: each a
// single layer of one static program (this one, unless Options say
// otherwise), tagged with its hash, loaded through the API when missing
// (no registry, no build on the engine's host).
const proxyRepository = "docker-workspace/egress-proxy"

// proxyBinary is the program the proxy image runs, in the image.
const proxyBinary = "/egress"

// proxyProgram is the program of the proxy image, read once.
type proxyProgram struct {
	once  sync.Once
	layer []byte // the image's one layer (a tar of the program)
	diff  string // its digest, as the image's configuration names it
	arch  string
	tag   string
	err   error
}

func (p *proxyProgram) read(path string) {
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			p.err = fmt.Errorf("the egress proxy's program: %w", err)
			return
		}
		path = exe
	}
	prog, err := os.ReadFile(path)
	if err != nil {
		p.err = fmt.Errorf("the egress proxy's program: %w", err)
		return
	}
	if p.arch, err = staticLinuxArch(prog); err != nil {
		p.err = fmt.Errorf("the egress proxy runs this program (%s) in a container of its own: %w", path, err)
		return
	}
	if p.layer, p.err = proxyLayer(prog); p.err != nil {
		return
	}
	sum, layerSum := sha256.Sum256(prog), sha256.Sum256(p.layer)
	p.tag, p.diff = proxyRepository+":"+hex.EncodeToString(sum[:8]), "sha256:"+hex.EncodeToString(layerSum[:])
}

// checkProxyProgram fails when the program of the proxy image cannot be
// one (for doctor).
func (m *Manager) checkProxyProgram() error {
	m.proxy.once.Do(func() { m.proxy.read(m.opts.ProxyProgram) })
	return m.proxy.err
}

// proxyImage is the tag of the engine's proxy image, loaded first when the
// engine lacks it: once for the Ensure calls that share s.
func (m *Manager) proxyImage(ctx context.Context, s *sandbox.Shared) (string, error) {
	v, err := s.Do("egress-proxy-image", func() (any, error) { return m.loadProxyImage(ctx) })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (m *Manager) loadProxyImage(ctx context.Context) (string, error) {
	m.proxy.once.Do(func() { m.proxy.read(m.opts.ProxyProgram) })
	if m.proxy.err != nil {
		return "", m.proxy.err
	}
	tag := m.proxy.tag
	// An image of the tag is used only when it is this program's: the
	// tag alone is anyone's to make.
	if img, err := m.client.ImageInspect(ctx, tag); err == nil && m.proxy.isOf(img) {
		return tag, nil
	} else if err != nil && !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", tag, err)
	}
	archive, err := proxyArchive(tag, m.proxy.arch, m.proxy.layer, m.proxy.diff)
	if err != nil {
		return "", err
	}
	resp, err := m.client.ImageLoad(ctx, bytes.NewReader(archive), client.ImageLoadWithQuiet(true))
	if err != nil {
		return "", fmt.Errorf("load the egress proxy's image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := loadErrors(resp.Body); err != nil {
		return "", fmt.Errorf("load the egress proxy's image %s: %w", tag, err)
	}
	img, err := m.client.ImageInspect(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("the egress proxy's image %s was not loaded: %w", tag, err)
	}
	if !m.proxy.isOf(img) {
		return "", fmt.Errorf("%w: image %s is not the egress proxy this program makes, and loading it did not make it so", sandbox.ErrNotSupported, tag)
	}
	return tag, nil
}

// isOf says whether an image is the proxy image of the program: its one
// layer, its entrypoint, its user, no environment.
func (p *proxyProgram) isOf(img image.InspectResponse) bool {
	return img.Config != nil && slices.Equal(img.RootFS.Layers, []string{p.diff}) &&
		slices.Equal(img.Config.Entrypoint, []string{proxyBinary, proxy.Command}) &&
		img.Config.User == fmt.Sprintf("%d:%d", proxyUID, proxyUID) && len(img.Config.Env) == 0
}

// loadErrors is the error an image load's answer reports, if any.
func loadErrors(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m jsonmessage.JSONMessage
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Error != nil {
			return m.Error
		}
	}
	return sc.Err()
}

// staticLinuxArch is the architecture of a static Linux program, as an
// image names it; any other program is refused.
func staticLinuxArch(prog []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(prog))
	if err != nil {
		return "", errors.New("it is not a Linux program (build it for linux, with CGO_ENABLED=0)")
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New("it is not a static program (build it with CGO_ENABLED=0)")
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	}
	return "", fmt.Errorf("its architecture %s is not one the proxy image is made for", f.Machine)
}

// proxyLayer is the one layer of the proxy image: the program at
// proxyBinary, and the directory of the proxy's state, owned by the user
// it runs as.
func proxyLayer(prog []byte) ([]byte, error) {
	epoch := time.Unix(0, 0).UTC()
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	for _, h := range []*tar.Header{
		{Name: proxyBinary[1:], Mode: 0o555, Size: int64(len(prog)), ModTime: epoch, Typeflag: tar.TypeReg},
		{Name: proxy.StateDir[1:] + "/", Mode: 0o700, Uid: proxyUID, Gid: proxyUID, ModTime: epoch, Typeflag: tar.TypeDir},
	} {
		if err := lw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := lw.Write(prog); err != nil {
				return nil, err
			}
		}
	}
	if err := lw.Close(); err != nil {
		return nil, err
	}
	return layer.Bytes(), nil
}

// proxyArchive is an image archive (as `docker save` writes one) of the
// one layer, whose digest is diff.
func proxyArchive(tag, arch string, layer []byte, diff string) ([]byte, error) {
	epoch := time.Unix(0, 0).UTC()
	layerID := strings.TrimPrefix(diff, "sha256:")
	config, err := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux", "created": epoch.Format(time.RFC3339),
		"config": map[string]any{
			"User": fmt.Sprintf("%d:%d", proxyUID, proxyUID), "Entrypoint": []string{proxyBinary, proxy.Command},
			"Labels": map[string]string{sandbox.LabelEgress: "proxy"},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diff}},
		"history": []map[string]string{{"created": epoch.Format(time.RFC3339), "created_by": "docker-workspace: the egress proxy"}},
	})
	if err != nil {
		return nil, err
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{tag}, "Layers": []string{layerID + "/layer.tar"}}})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := tar.NewWriter(&out)
	for _, f := range []struct {
		name string
		data []byte
	}{{layerID + "/layer.tar", layer}, {configName, config}, {"manifest.json", manifest}} {
		if err := w.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), w.Close()
}
