package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var (
	amd64 = Platform{OS: "linux", Arch: "amd64"}
	arm64 = Platform{OS: "linux", Arch: "arm64"}
	// Stand-ins for the two manager binaries: assembling the image does not look inside them.
	fakeBinaries = map[Platform][]byte{
		amd64: []byte("\x7fELF manager for amd64"),
		arm64: []byte("\x7fELF manager for arm64"),
	}
	testMeta = Metadata{
		Source:   "https://github.com/accessplane/dataverse-access-operator",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Version:  "v0.1.0",
		Created:  time.Unix(1767225600, 0).UTC(),
	}
)

func buildIndex(t *testing.T, meta Metadata) v1.ImageIndex {
	t.Helper()
	idx, err := Index([]Platform{amd64, arm64}, fakeBinaries, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the index is not valid: %v", err)
	}
	return idx
}

func digest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// Two builds of the same binaries at the same SOURCE_DATE_EPOCH are the same image, byte for
// byte, down to the layout's tarball; another epoch is another image.
func TestBuildsAreReproducible(t *testing.T) {
	first, second := buildIndex(t, testMeta), buildIndex(t, testMeta)
	if a, b := digest(t, first), digest(t, second); a != b {
		t.Fatalf("two builds gave two digests: %s and %s", a, b)
	}

	dir := t.TempDir()
	var tars [][]byte
	for i, idx := range []v1.ImageIndex{first, second} {
		layoutDir := filepath.Join(dir, "oci"+string(rune('a'+i)))
		if err := WriteLayout(layoutDir, idx, testMeta.Version); err != nil {
			t.Fatal(err)
		}
		// Files written later have later mtimes: the tarball must not care.
		time.Sleep(10 * time.Millisecond)
		out := filepath.Join(dir, "image"+string(rune('a'+i))+".tar")
		if err := TarDir(layoutDir, out, testMeta.Created); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		tars = append(tars, data)
	}
	if !bytes.Equal(tars[0], tars[1]) {
		t.Fatal("the layout tarballs of two identical builds differ")
	}

	later := testMeta
	later.Created = later.Created.Add(time.Second)
	if digest(t, buildIndex(t, later)) == digest(t, first) {
		t.Fatal("SOURCE_DATE_EPOCH does not reach the image")
	}
}

func platformImage(t *testing.T, idx v1.ImageIndex, p Platform) v1.Image {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == p.OS && d.Platform.Architecture == p.Arch {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no image for %s", p)
	return nil
}

// The image holds the binary, passwd and group and nothing else, all owned by root; it runs as
// 65532 with the OCI labels; each platform's image holds its own binary.
func TestImageContentsAndConfig(t *testing.T) {
	idx := buildIndex(t, testMeta)
	mt, err := idx.MediaType()
	if err != nil || mt != types.OCIImageIndex {
		t.Fatalf("index media type %s (%v), want %s", mt, err, types.OCIImageIndex)
	}
	for _, p := range []Platform{amd64, arm64} {
		img := platformImage(t, idx, p)
		rc := mutate.Extract(img)
		tree, err := Tree(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"d 0755 0:0 0 etc/",
			"f 0644 0:0 " + strconv.Itoa(len(group)) + " etc/group",
			"f 0644 0:0 " + strconv.Itoa(len(passwd)) + " etc/passwd",
			"f 0755 0:0 " + strconv.Itoa(len(fakeBinaries[p])) + " manager",
		}
		if strings.Join(tree, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: file tree\n%s\nwant\n%s", p, strings.Join(tree, "\n"), strings.Join(want, "\n"))
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != p.OS || cf.Architecture != p.Arch {
			t.Errorf("%s: config says %s/%s", p, cf.OS, cf.Architecture)
		}
		if cf.Config.User != "65532:65532" || strings.Join(cf.Config.Entrypoint, " ") != "/manager" {
			t.Errorf("%s: user %q entrypoint %q, want 65532:65532 and /manager", p, cf.Config.User, cf.Config.Entrypoint)
		}
		for k, v := range map[string]string{
			"org.opencontainers.image.source":   testMeta.Source,
			"org.opencontainers.image.revision": testMeta.Revision,
			"org.opencontainers.image.version":  testMeta.Version,
			"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
		} {
			if cf.Config.Labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q", p, k, cf.Config.Labels[k], v)
			}
		}
		if !cf.Created.Time.Equal(testMeta.Created) {
			t.Errorf("%s: created %s, want SOURCE_DATE_EPOCH %s", p, cf.Created.Time, testMeta.Created)
		}
	}
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") || !strings.Contains(group, "nonroot:x:65532:") {
		t.Error("passwd and group must name uid and gid 65532")
	}
}

// make image-push: the layout's index is pushed byte for byte, so the registry serves the digest
// make image printed, for every platform.
func TestPushToRegistry(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")

	idx := buildIndex(t, testMeta)
	layoutDir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(layoutDir, idx, testMeta.Version); err != nil {
		t.Fatal(err)
	}
	ref := host + "/accessplane/dataverse-access-operator:v0.1.0"
	got, err := Push(context.Background(), layoutDir, ref, false)
	if err != nil {
		t.Fatal(err)
	}
	want := host + "/accessplane/dataverse-access-operator@" + digest(t, idx)
	if got != want {
		t.Fatalf("Push returned %s, want %s", got, want)
	}

	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(tag)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, pulled) != digest(t, idx) {
		t.Fatalf("the registry serves %s, want %s", digest(t, pulled), digest(t, idx))
	}
	img := platformImage(t, pulled, arm64)
	rc := mutate.Extract(img)
	defer rc.Close()
	tree, err := Tree(rc)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree) != 4 {
		t.Fatalf("pulled arm64 image holds %v", tree)
	}

	if _, err := Push(context.Background(), layoutDir, "dataverse-access-operator:dev", false); err == nil || !strings.Contains(err.Error(), "names no registry") {
		t.Fatalf("a reference without a registry (Docker Hub by default) must be refused, got %v", err)
	}
	if _, err := Push(context.Background(), t.TempDir(), ref, false); err == nil || !strings.Contains(err.Error(), "make image") {
		t.Fatalf("pushing without a layout must say to run make image, got %v", err)
	}
}

// The SBOM lists, from the binary's own build info, the Go toolchain and each module linked in
// (this test binary links go-containerregistry), with purls; it is stable for a build.
func TestSBOMFromBuildInfo(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bins := []Binary{{Platform: amd64, Data: data}, {Platform: arm64, Data: data}}
	const indexDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	out, err := SBOM(imageName, indexDigest, testMeta, bins)
	if err != nil {
		t.Fatal(err)
	}
	again, err := SBOM(imageName, indexDigest, testMeta, bins)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Fatal("two SBOMs of one build differ")
	}
	var doc spdxDocument
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2026-01-01T00:00:00Z" {
		t.Errorf("spdxVersion %s created %s", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	byName := map[string]spdxPackage{}
	ids := map[string]bool{}
	for _, p := range doc.Packages {
		if ids[p.SPDXID] {
			t.Errorf("SPDXID %s twice", p.SPDXID)
		}
		ids[p.SPDXID] = true
		byName[p.Name] = p
	}
	for _, want := range []string{imageName, "manager (linux/amd64)", "manager (linux/arm64)", "stdlib", "github.com/google/go-containerregistry"} {
		if _, ok := byName[want]; !ok {
			t.Errorf("the SBOM has no package %s", want)
		}
	}
	ggcr := byName["github.com/google/go-containerregistry"]
	if ggcr.VersionInfo != "v0.22.1" || len(ggcr.ExternalRefs) != 1 || ggcr.ExternalRefs[0].ReferenceLocator != "pkg:golang/github.com/google/go-containerregistry@v0.22.1" {
		t.Errorf("go-containerregistry: %+v", ggcr)
	}
	if !strings.HasPrefix(ggcr.Comment, "go.sum h1:") {
		t.Errorf("go-containerregistry's go.sum hash is missing: %q", ggcr.Comment)
	}
	if byName["stdlib"].VersionInfo == "" {
		t.Error("the Go toolchain's version is missing")
	}
	for _, r := range doc.Relationships {
		if !ids[r.RelatedSPDXElement] || (r.SPDXElementID != "SPDXRef-DOCUMENT" && !ids[r.SPDXElementID]) {
			t.Errorf("relationship %+v names an unknown element", r)
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := ParsePlatforms("linux/amd64, linux/arm64")
	if err != nil || len(got) != 2 || got[1] != arm64 {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "amd64", "windows/amd64", "linux/arm/v7"} {
		if _, err := ParsePlatforms(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// The Dockerfile copies the tree WriteRootFS writes: the same paths and modes as the image.
func TestWriteRootFSMatchesTheImage(t *testing.T) {
	dir := t.TempDir()
	if err := WriteRootFS(dir, fakeBinaries[amd64]); err != nil {
		t.Fatal(err)
	}
	for _, f := range RootFS(fakeBinaries[amd64]) {
		fi, err := os.Stat(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if int64(fi.Mode().Perm()) != f.Mode {
			t.Errorf("%s: mode %o, want %o", f.Path, fi.Mode().Perm(), f.Mode)
		}
		if f.Data != nil {
			data, _ := os.ReadFile(filepath.Join(dir, f.Path))
			if !bytes.Equal(data, f.Data) {
				t.Errorf("%s: content differs", f.Path)
			}
		}
	}
}
