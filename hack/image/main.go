// Command image builds, inspects and pushes the manager's container image without a container
// engine, on go-containerregistry:
//
//	go run ./hack/image build -out dist/image -version v0.1.0     # make image
//	go run ./hack/image push -layout dist/image/oci REGISTRY/REPO:TAG  # make image-push IMG=...
//	go run ./hack/image rootfs -binary bin/manager -out DIR        # the Dockerfile's file tree
//	go run ./hack/image tree -layout dist/image/oci -platform linux/amd64   # list an image's files
//	docker export $(docker create IMG) | go run ./hack/image tree -         # ...or a container's
//
// build compiles the static manager for each platform (CGO_ENABLED=0, -trimpath), lays it with
// passwd/group entries for uid 65532 into one layer per platform, and writes a multi-platform OCI
// image index as an OCI image layout (out/oci), a tarball of that layout (out/image.oci.tar,
// for `podman load`, `skopeo copy oci-archive:` or `docker load` on Docker 25+), its digest
// (out/image.digest) and an SPDX SBOM of every Go module linked in (out/sbom.spdx.json).
// Every timestamp is SOURCE_DATE_EPOCH, so building one commit twice gives the same digest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const imageName = "dataverse-access-operator"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = runBuild(ctx, os.Args[2:])
	case "push":
		err = runPush(ctx, os.Args[2:])
	case "rootfs":
		err = runRootFS(os.Args[2:])
	case "tree":
		err = runTree(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hack/image %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go run ./hack/image build|push|rootfs|tree [flags]  (-h for a command's flags)")
	os.Exit(2)
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (reproducible-builds.org): the time stamped into the
// image, the layer's files and the SBOM. Without it, the last commit's time: still reproducible
// for a commit, and meaningful.
func sourceDateEpoch(ctx context.Context, dir string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		out, err := exec.CommandContext(ctx, "git", "-C", dir, "log", "-1", "--format=%ct").Output()
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH is not set and git log failed (%v): set SOURCE_DATE_EPOCH", err)
		}
		s = strings.TrimSpace(string(out))
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// buildManager compiles the manager (the module's main package in dir) for p into out: static,
// without local paths, with CPU baselines pinned so that a GOAMD64 or GOARM64 in the builder's
// environment cannot change the binary.
func buildManager(ctx context.Context, dir string, p Platform, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch, "GOAMD64=v1", "GOARM64=v8.0", "GOARM=7")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s: %w", p, err)
	}
	return nil
}

func runBuild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	out := fs.String("out", "dist/image", "Output directory: oci/ (OCI image layout), image.oci.tar, image.digest, sbom.spdx.json, bin/<os>_<arch>/manager.")
	module := fs.String("module", ".", "Directory of the manager's main package.")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "Comma-separated platforms.")
	version := fs.String("version", "dev", "Version (label org.opencontainers.image.version, and the layout's ref name).")
	revision := fs.String("revision", "", "VCS revision (label org.opencontainers.image.revision; default: git rev-parse HEAD).")
	source := fs.String("source", "https://github.com/accessplane/dataverse-access-operator", "Source repository (label org.opencontainers.image.source).")
	binaries := fs.String("binaries", "", "Use prebuilt binaries DIR/<os>_<arch>/manager instead of building (tests).")
	_ = fs.Parse(args)

	plats, err := ParsePlatforms(*platforms)
	if err != nil {
		return err
	}
	created, err := sourceDateEpoch(ctx, *module)
	if err != nil {
		return err
	}
	if *revision == "" {
		if b, err := exec.CommandContext(ctx, "git", "-C", *module, "rev-parse", "HEAD").Output(); err == nil {
			*revision = strings.TrimSpace(string(b))
		} else {
			*revision = "unknown"
		}
	}
	meta := Metadata{Source: *source, Revision: *revision, Version: *version, Created: created}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}

	start := time.Now()
	bins := map[Platform][]byte{}
	var sbomBins []Binary
	for _, p := range plats {
		path := filepath.Join(*binaries, p.OS+"_"+p.Arch, "manager")
		if *binaries == "" {
			path = filepath.Join(*out, "bin", p.OS+"_"+p.Arch, "manager")
			fmt.Fprintf(os.Stderr, "hack/image: go build %s\n", p)
			if err := buildManager(ctx, *module, p, path); err != nil {
				return err
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		bins[p] = data
		sbomBins = append(sbomBins, Binary{Platform: p, Data: data})
	}
	built := time.Since(start)

	idx, err := Index(plats, bins, meta)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	layoutDir := filepath.Join(*out, "oci")
	if err := WriteLayout(layoutDir, idx, *version); err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := TarDir(layoutDir, filepath.Join(*out, "image.oci.tar"), created); err != nil {
		return fmt.Errorf("writing the layout tarball: %w", err)
	}
	if err := os.WriteFile(filepath.Join(*out, "image.digest"), []byte(digest.String()+"\n"), 0o644); err != nil {
		return err
	}
	sbom, err := SBOM(imageName, digest.String(), meta, sbomBins)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "sbom.spdx.json"), sbom, 0o644); err != nil {
		return err
	}

	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	fmt.Printf("image %s:%s  index %s  (built %s, assembled %s)\n", imageName, *version, digest,
		built.Round(time.Second), (time.Since(start) - built).Round(time.Second))
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		size, err := compressedSize(img)
		if err != nil {
			return err
		}
		fmt.Printf("  %s/%s  %s  %.1f MiB compressed\n", d.Platform.OS, d.Platform.Architecture, d.Digest, float64(size)/(1<<20))
	}
	fmt.Printf("  %s/{oci/,image.oci.tar,image.digest,sbom.spdx.json}\n", *out)
	return nil
}

func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, err
		}
		n += s
	}
	return n, nil
}

func runPush(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	layoutDir := fs.String("layout", "dist/image/oci", "OCI image layout written by build.")
	insecure := fs.Bool("insecure", false, "Allow a registry over plain HTTP (loopback and private addresses already are).")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("want one image reference, e.g. push registry.example.com/dataverse-access-operator:v0.1.0")
	}
	digest, err := Push(ctx, *layoutDir, fs.Arg(0), *insecure)
	if err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}

// Push pushes the layout's image index to ref, with the credentials of the Docker config
// (~/.docker/config.json, as `docker login` or `crane auth login` write it), and returns
// REPO@DIGEST: the digest that `make image` printed, since the index is pushed byte for byte.
func Push(ctx context.Context, layoutDir, ref string, insecure bool) (string, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	// A reference without a registry means Docker Hub; that is almost never where an operator's
	// image is meant to go (make image-push without IMG), so it has to be named.
	if first, _, hasSlash := strings.Cut(ref, "/"); !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return "", fmt.Errorf("image reference %q names no registry: use IMG=registry.example.com/dataverse-access-operator:TAG (docker.io/... for Docker Hub)", ref)
	}
	idx, err := ReadLayout(layoutDir)
	if err != nil {
		return "", err
	}
	if err := remote.WriteIndex(tag, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("pushing to %s: %w", tag, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return tag.Context().Digest(d.String()).String(), nil
}

func runRootFS(args []string) error {
	fs := flag.NewFlagSet("rootfs", flag.ExitOnError)
	binary := fs.String("binary", "", "The manager binary.")
	out := fs.String("out", "", "Directory to write the image's file tree into.")
	_ = fs.Parse(args)
	if *binary == "" || *out == "" {
		return errors.New("-binary and -out are required")
	}
	data, err := os.ReadFile(*binary)
	if err != nil {
		return err
	}
	return WriteRootFS(*out, data)
}

func runTree(args []string) error {
	fs := flag.NewFlagSet("tree", flag.ExitOnError)
	layoutDir := fs.String("layout", "", "OCI image layout (else a tar stream on stdin: `tree -`).")
	platform := fs.String("platform", "linux/amd64", "Platform of the layout's index to list.")
	_ = fs.Parse(args)
	var r io.Reader = os.Stdin
	if *layoutDir != "" {
		img, err := PlatformImage(*layoutDir, *platform)
		if err != nil {
			return err
		}
		rc := mutate.Extract(img)
		defer rc.Close()
		r = rc
	}
	lines, err := Tree(r)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	return nil
}

// PlatformImage returns the image for platform ("linux/arm64") from the layout's index.
func PlatformImage(layoutDir, platform string) (v1.Image, error) {
	idx, err := ReadLayout(layoutDir)
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS+"/"+d.Platform.Architecture == platform {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("%s has no image for %s", layoutDir, platform)
}
