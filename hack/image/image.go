package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the manager runs as: the same uid/gid distroless calls "nonroot", which the
// Deployment's securityContext (runAsUser/runAsGroup 65532) and the Dockerfile's USER name.
const (
	nonrootUID = 65532
	nonrootGID = 65532
	entrypoint = "/manager"
)

// Metadata is what the image says about itself: its OCI labels and annotations.
type Metadata struct {
	// Source is the repository URL (org.opencontainers.image.source).
	Source string
	// Revision is the VCS revision built (org.opencontainers.image.revision).
	Revision string
	// Version is the release version or "dev" (org.opencontainers.image.version).
	Version string
	// Created is the build time: SOURCE_DATE_EPOCH, never the wall clock, so that two builds of
	// one commit give the same digest.
	Created time.Time
}

// Labels are the OCI labels of the image config (what `docker inspect` and registries show).
func (m Metadata) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "dataverse-access-operator",
		"org.opencontainers.image.description": "Kubernetes operator for the users, teams and security roles of Dataverse environments",
		"org.opencontainers.image.source":      m.Source,
		"org.opencontainers.image.revision":    m.Revision,
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.created":     m.Created.UTC().Format(time.RFC3339),
	}
}

// File is one entry of the image's root filesystem.
type File struct {
	Path string // relative to /, without a leading slash; directories end in "/"
	Mode int64  // permission bits
	Data []byte // nil for a directory
}

// passwd and group name root and the nonroot user, so that tools that map the uid to a name (ps,
// kubectl debug, log shippers) see "nonroot", as on distroless.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nonroot:x:65532:\n"
)

// RootFS is the image's whole file tree, in tar order: the static manager binary and the
// passwd/group entries of its user. Nothing else: no shell, no package database, no CA bundle (the
// binary embeds its CA roots through golang.org/x/crypto/x509roots/fallback). Every entry is owned
// by root, so that the nonroot user can write nothing even on a writable root filesystem. The
// Dockerfile writes this same tree (hack/image rootfs) and copies it onto scratch.
func RootFS(manager []byte) []File {
	files := []File{
		{Path: "etc/", Mode: 0o755},
		{Path: "etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: strings.TrimPrefix(entrypoint, "/"), Mode: 0o755, Data: manager},
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files
}

// layerTar writes files as an uncompressed tar with fixed owners and times: the bytes depend on
// nothing but the files and created.
func layerTar(files []File, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name:    f.Path,
			Mode:    f.Mode,
			ModTime: created.UTC(),
			Uid:     0,
			Gid:     0,
			Uname:   "root",
			Gname:   "root",
			Format:  tar.FormatPAX,
		}
		if strings.HasSuffix(f.Path, "/") {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipBytes compresses with the standard library and a zero header (no name, no mtime), so that
// the compressed layer, and so its digest, is a function of its content alone and does not change
// with go-containerregistry's choice of compressor.
func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// plainLayer is a v1.Layer with no Descriptor method.
type plainLayer struct{ v1.Layer }

// Platform is one os/arch the image is built for.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// ParsePlatforms parses "linux/amd64,linux/arm64".
func ParsePlatforms(s string) ([]Platform, error) {
	var out []Platform
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		os, arch, ok := strings.Cut(f, "/")
		if !ok || os != "linux" || arch == "" || strings.Contains(arch, "/") {
			return nil, fmt.Errorf("platform %q: want linux/<arch>, e.g. linux/amd64", f)
		}
		out = append(out, Platform{OS: os, Arch: arch})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no platform in %q", s)
	}
	return out, nil
}

// Image builds the single-platform image of one manager binary.
func Image(p Platform, manager []byte, meta Metadata) (v1.Image, error) {
	raw, err := layerTar(RootFS(manager), meta.Created)
	if err != nil {
		return nil, err
	}
	gz, err := gzipBytes(raw)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: meta.Created.UTC()}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		// Wrapped, so that the manifest's layer descriptor is computed from digest, size and media
		// type alone: tarball's own Descriptor carries an empty annotations map, which the manifest
		// object keeps but its JSON drops, and validate.Index rightly flags the two as different.
		Layer:     plainLayer{layer},
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: "hack/image: /manager (CGO_ENABLED=0 go build -trimpath), /etc/passwd and /etc/group for uid 65532",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = p.OS, p.Arch
	cf.Created = created
	cf.Author = ""
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", nonrootUID, nonrootGID),
		Entrypoint: []string{entrypoint},
		WorkingDir: "/",
		Labels:     meta.Labels(),
	}
	return mutate.ConfigFile(img, cf)
}

// Index builds the multi-platform image index: one image per platform, with the labels as the
// index's annotations too, so that a registry's UI shows them for the tag.
func Index(platforms []Platform, binaries map[Platform][]byte, meta Metadata) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		bin, ok := binaries[p]
		if !ok {
			return nil, fmt.Errorf("no manager binary for %s", p)
		}
		img, err := Image(p, bin, meta)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, adds...)
	return mutate.Annotations(idx, meta.Labels()).(v1.ImageIndex), nil
}

// WriteLayout writes idx as an OCI image layout in dir (replacing what was there), tagged with
// refName (org.opencontainers.image.ref.name, the name `skopeo copy oci:DIR:NAME` and
// `podman load` use).
func WriteLayout(dir string, idx v1.ImageIndex, refName string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": refName,
	}))
}

// ReadLayout returns the image index that WriteLayout wrote into dir.
func ReadLayout(dir string) (v1.ImageIndex, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout (run make image): %w", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("%s/index.json: want exactly one image index, found %d entries", dir, len(m.Manifests))
	}
	return top.ImageIndex(m.Manifests[0].Digest)
}

// TarDir writes the files under dir to a tar at out, in lexical order, with fixed times, owners
// and modes: the tarball of a layout is as reproducible as the layout.
func TarDir(dir, out string, created time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		hdr := &tar.Header{Name: rel, ModTime: created.UTC(), Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if d.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
			return tw.WriteHeader(hdr)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, int64(len(data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteRootFS writes the image's file tree under dir, for the Dockerfile: its final stage copies
// dir onto scratch, so that both builds produce the tree RootFS describes.
func WriteRootFS(dir string, manager []byte) error {
	for _, f := range RootFS(manager) {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if strings.HasSuffix(f.Path, "/") {
			if err := os.MkdirAll(path, fs.FileMode(f.Mode)); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(path, f.Data, fs.FileMode(f.Mode)); err != nil {
			return err
		}
		// WriteFile's mode is filtered by the umask; set it exactly.
		if err := os.Chmod(path, fs.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	return nil
}

// Tree lists a flattened file tree read from a tar stream (a layer, or `docker export`), one line
// per entry: type, mode, uid:gid, size, path. Comparing the listings of the two builds is how one
// checks that they hold the same tree. Docker's own extras in an export (.dockerenv, dev/, proc/,
// sys/, etc/hosts, etc/hostname, etc/resolv.conf, which are mount points of a container, not
// content of the image) are left out.
func Tree(r io.Reader) ([]string, error) {
	tr := tar.NewReader(r)
	var out []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(strings.TrimPrefix(hdr.Name, "./"), "/")
		switch {
		case name == "" || name == ".dockerenv":
			continue
		case name == "etc/hosts" || name == "etc/hostname" || name == "etc/resolv.conf" || name == "etc/mtab":
			continue
		case strings.HasPrefix(name, "dev/") || strings.HasPrefix(name, "proc/") || strings.HasPrefix(name, "sys/"):
			continue
		}
		kind := "f"
		size := hdr.Size
		if hdr.Typeflag == tar.TypeDir {
			kind, size = "d", 0
			name = strings.TrimSuffix(name, "/") + "/"
		}
		out = append(out, fmt.Sprintf("%s %04o %d:%d %d %s", kind, hdr.Mode&0o7777, hdr.Uid, hdr.Gid, size, name))
	}
	sort.Strings(out)
	return out, nil
}
