package e2e

import (
	"archive/tar"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// buildImage runs hack/image build (what make image runs) into out, for both platforms.
func buildImage(out, epoch, revision string) string {
	GinkgoHelper()
	cmd := exec.CommandContext(suiteCtx, "go", "run", "./hack/image", "build", "-out", out,
		"-platforms", "linux/amd64,linux/arm64", "-version", "v0.0.0-e2e", "-revision", revision)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "hack/image build:\n%s", b)
	fmt.Fprintf(GinkgoWriter, "hack/image build (%s):\n%s", time.Since(start).Round(time.Second), b)
	digest, err := os.ReadFile(filepath.Join(out, "image.digest"))
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(string(digest))
}

func sha256File(path string) string {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// layoutImage returns the image of platform (os/arch) from the OCI layout at dir.
func layoutImage(dir, platform string) v1.Image {
	GinkgoHelper()
	p, err := layout.FromPath(dir)
	Expect(err).NotTo(HaveOccurred())
	top, err := p.ImageIndex()
	Expect(err).NotTo(HaveOccurred())
	tm, err := top.IndexManifest()
	Expect(err).NotTo(HaveOccurred())
	Expect(tm.Manifests).To(HaveLen(1), "index.json names one image index")
	Expect(tm.Manifests[0].Annotations).To(HaveKeyWithValue("org.opencontainers.image.ref.name", "v0.0.0-e2e"))
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	Expect(err).NotTo(HaveOccurred())
	m, err := idx.IndexManifest()
	Expect(err).NotTo(HaveOccurred())
	var platforms []string
	var img v1.Image
	for _, d := range m.Manifests {
		platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
		if d.Platform.OS+"/"+d.Platform.Architecture == platform {
			img, err = idx.Image(d.Digest)
			Expect(err).NotTo(HaveOccurred())
		}
	}
	Expect(platforms).To(ConsistOf("linux/amd64", "linux/arm64"))
	Expect(img).NotTo(BeNil())
	return img
}

// unpack writes the image's file tree into dir, as a container runtime's unpacker would (the
// image has only directories and regular files).
func unpack(img v1.Image, dir string) {
	GinkgoHelper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(dir, filepath.Clean("/"+hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			Expect(os.MkdirAll(path, os.FileMode(hdr.Mode))).To(Succeed())
		case tar.TypeReg:
			Expect(os.MkdirAll(filepath.Dir(path), 0o755)).To(Succeed())
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode))
			Expect(err).NotTo(HaveOccurred())
			_, err = io.Copy(f, tr)
			Expect(err).NotTo(HaveOccurred())
			Expect(f.Close()).To(Succeed())
			Expect(os.Chmod(path, os.FileMode(hdr.Mode))).To(Succeed())
		default:
			Fail(fmt.Sprintf("unexpected entry %s (type %c) in the image", hdr.Name, hdr.Typeflag))
		}
		Expect(os.Lchown(path, hdr.Uid, hdr.Gid)).To(Succeed())
	}
}

// ociConfig is the runtime spec of the bundle: what a kubelet gives the Deployment's pod, as far
// as one machine can: user 65532, a read-only root filesystem, no capabilities at all,
// no_new_privs, and the kubeconfig mounted read-only (in a cluster, the ServiceAccount token).
// It shares the host's network namespace, so that the manager reaches the API server on loopback
// and the test reaches its probes; cgroups are left to the caller (crun --cgroup-manager=disabled),
// since this sandbox may not delegate them.
func ociConfig(args []string, kubeconfig string) map[string]interface{} {
	return map[string]interface{}{
		"ociVersion": "1.0.2",
		"root":       map[string]interface{}{"path": "rootfs", "readonly": true},
		"process": map[string]interface{}{
			"terminal": false,
			"user":     map[string]interface{}{"uid": 65532, "gid": 65532},
			"args":     args,
			"env":      []string{"KUBECONFIG=/var/run/kubeconfig/kubeconfig"},
			"cwd":      "/",
			"capabilities": map[string]interface{}{
				"bounding": []string{}, "effective": []string{}, "inheritable": []string{},
				"permitted": []string{}, "ambient": []string{},
			},
			"noNewPrivileges": true,
		},
		"hostname": "manager",
		"mounts": []interface{}{
			map[string]interface{}{"destination": "/proc", "type": "proc", "source": "proc"},
			map[string]interface{}{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
				"options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			map[string]interface{}{"destination": "/dev/pts", "type": "devpts", "source": "devpts",
				"options": []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			map[string]interface{}{"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
				"options": []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			map[string]interface{}{"destination": "/var/run/kubeconfig", "type": "bind", "source": filepath.Dir(kubeconfig),
				"options": []string{"rbind", "ro", "nosuid", "nodev", "noexec"}},
		},
		"linux": map[string]interface{}{
			// No network namespace: the host's loopback, where kube-apiserver listens.
			"namespaces": []interface{}{
				map[string]interface{}{"type": "pid"}, map[string]interface{}{"type": "ipc"},
				map[string]interface{}{"type": "uts"}, map[string]interface{}{"type": "mount"},
			},
			"maskedPaths": []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			"readonlyPaths": []string{"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// procStatus reads the fields of /proc/PID/status.
func procStatus(pid int) map[string]string {
	GinkgoHelper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	Expect(err).NotTo(HaveOccurred())
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

var _ = Describe("The image (make image), built without a container engine", Ordered, func() {
	var (
		dirA, dirB string
		digest     string
		revision   string
	)

	BeforeAll(func() {
		out, err := exec.CommandContext(suiteCtx, "git", "-C", root, "rev-parse", "HEAD").Output()
		if err != nil {
			out = []byte("unknown")
		}
		revision = strings.TrimSpace(string(out))
		dirA, dirB = filepath.Join(tmp, "image-a"), filepath.Join(tmp, "image-b")
		By("building the image for linux/amd64 and linux/arm64 (hack/image build, as make image does)")
		digest = buildImage(dirA, "1767225600", revision)
	})

	It("is reproducible: a second build of the tree gives the same digest, the same tarball and the same SBOM", func() {
		Expect(buildImage(dirB, "1767225600", revision)).To(Equal(digest))
		for _, f := range []string{"image.oci.tar", "sbom.spdx.json"} {
			Expect(sha256File(filepath.Join(dirB, f))).To(Equal(sha256File(filepath.Join(dirA, f))), f)
		}
		Expect(digest).To(MatchRegexp(`^sha256:[0-9a-f]{64}$`))
	})

	It("holds /manager, /etc/passwd and /etc/group only, runs as 65532:65532 and carries the OCI labels", func() {
		for _, platform := range []string{"linux/amd64", "linux/arm64"} {
			img := layoutImage(filepath.Join(dirA, "oci"), platform)
			cf, err := img.ConfigFile()
			Expect(err).NotTo(HaveOccurred())
			Expect(cf.OS + "/" + cf.Architecture).To(Equal(platform))
			Expect(cf.Config.User).To(Equal("65532:65532"))
			Expect(cf.Config.Entrypoint).To(Equal([]string{"/manager"}))
			Expect(cf.Config.Labels).To(And(
				HaveKeyWithValue("org.opencontainers.image.source", "https://github.com/accessplane/dataverse-access-operator"),
				HaveKeyWithValue("org.opencontainers.image.revision", revision),
				HaveKeyWithValue("org.opencontainers.image.version", "v0.0.0-e2e"),
				HaveKeyWithValue("org.opencontainers.image.created", "2026-01-01T00:00:00Z")))

			tree := exec.CommandContext(suiteCtx, "go", "run", "./hack/image", "tree", "-layout", filepath.Join(dirA, "oci"), "-platform", platform)
			tree.Dir = root
			out, err := tree.Output()
			Expect(err).NotTo(HaveOccurred())
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			Expect(lines).To(HaveLen(4), "%s", out)
			Expect(lines[0]).To(Equal("d 0755 0:0 0 etc/"))
			Expect(lines[1]).To(MatchRegexp(`^f 0644 0:0 \d+ etc/group$`))
			Expect(lines[2]).To(MatchRegexp(`^f 0644 0:0 \d+ etc/passwd$`))
			Expect(lines[3]).To(MatchRegexp(`^f 0755 0:0 \d+ manager$`))
		}
	})

	It("ships a static manager that embeds its CA roots, and an SPDX SBOM of exactly the modules linked into it", func() {
		var sbom struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name        string `json:"name"`
				VersionInfo string `json:"versionInfo"`
				Checksums   []struct {
					ChecksumValue string `json:"checksumValue"`
				} `json:"checksums"`
			} `json:"packages"`
		}
		data, err := os.ReadFile(filepath.Join(dirA, "sbom.spdx.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(data, &sbom)).To(Succeed())
		Expect(sbom.SPDXVersion).To(Equal("SPDX-2.3"))
		versions := map[string]string{}
		checksums := map[string]string{}
		for _, p := range sbom.Packages {
			versions[p.Name] = p.VersionInfo
			if len(p.Checksums) > 0 {
				checksums[p.Name] = p.Checksums[0].ChecksumValue
			}
		}
		Expect(checksums).To(HaveKeyWithValue("dataverse-access-operator", strings.TrimPrefix(digest, "sha256:")))

		for _, arch := range []string{"amd64", "arm64"} {
			bin := filepath.Join(dirA, "bin", "linux_"+arch, "manager")
			Expect(checksums).To(HaveKeyWithValue("manager (linux/"+arch+")", sha256File(bin)))
			bi, err := buildinfo.ReadFile(bin)
			Expect(err).NotTo(HaveOccurred())
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			Expect(settings).To(HaveKeyWithValue("CGO_ENABLED", "0"), "static, for an image without libc")
			Expect(settings).To(HaveKeyWithValue("-trimpath", "true"))
			Expect(settings).To(HaveKeyWithValue("GOARCH", arch))
			Expect(versions).To(HaveKeyWithValue("stdlib", bi.GoVersion))
			deps := map[string]string{}
			for _, d := range bi.Deps {
				deps[d.Path] = d.Version
				Expect(versions).To(HaveKeyWithValue(d.Path, d.Version), "the SBOM lists %s", d.Path)
			}
			Expect(deps).To(HaveKey("golang.org/x/crypto/x509roots/fallback"),
				"the image has no CA bundle: the manager must embed its roots to call Microsoft's endpoints over TLS")
			Expect(deps).To(HaveKey("sigs.k8s.io/controller-runtime"))
		}
		Expect(versions).NotTo(HaveKey("github.com/onsi/ginkgo/v2"), "test-only modules are not in the binary, so not in its SBOM")
	})

	Context("run as an OCI bundle with crun, as the Deployment runs it: user 65532, read-only root filesystem, no capabilities", func() {
		const ns = "contoso-image"
		var (
			stateDir, id string
			container    *exec.Cmd
			logPath      string
			exited       chan error
		)
		// TODO(dataverse emulator): once hack/dataverse-emulator lands, start it on loopback
		// before the container, pass its URL with the manager's Dataverse flags in args below,
		// and check that the samples reach it; until then the manager runs against the control
		// plane only.

		BeforeAll(func() {
			crun, err := exec.LookPath("crun")
			if err != nil {
				Skip("crun is not installed (make test-e2e installs the Debian package where it runs as root with apt-get): cannot run the image as an OCI bundle here")
			}
			bundle := filepath.Join(tmp, "bundle")
			Expect(os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755)).To(Succeed())
			unpack(layoutImage(filepath.Join(dirA, "oci"), "linux/"+goruntime.GOARCH), filepath.Join(bundle, "rootfs"))

			By("a kubeconfig for the container, readable by uid 65532 only")
			kcDir := filepath.Join(tmp, "container-kubeconfig")
			kubeconfig := filepath.Join(kcDir, "kubeconfig")
			Expect(cluster.WriteKubeconfig(kubeconfig, "", "")).To(Succeed())
			Expect(os.Chown(kcDir, 65532, 65532)).To(Succeed())
			Expect(os.Chown(kubeconfig, 65532, 65532)).To(Succeed())
			Expect(os.Chmod(kcDir, 0o700)).To(Succeed())
			// Every directory above must be searchable by uid 65532 for the bind mount's source.
			for dir := filepath.Dir(kcDir); dir != "/"; dir = filepath.Dir(dir) {
				if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
					Expect(os.Chmod(dir, fi.Mode().Perm()|0o011)).To(Succeed())
				}
			}

			metricsPort, err := localcluster.FreePort()
			Expect(err).NotTo(HaveOccurred())
			probePort, err := localcluster.FreePort()
			Expect(err).NotTo(HaveOccurred())
			args := []string{"/manager", "--leader-elect=false",
				fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
				fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort)}
			config, err := json.MarshalIndent(ociConfig(args, kubeconfig), "", "  ")
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(filepath.Join(bundle, "config.json"), config, 0o644)).To(Succeed())

			By("crun run: the image's entrypoint as its user, without cgroups (not delegated in this sandbox)")
			stateDir = filepath.Join(tmp, "crun-state")
			id = fmt.Sprintf("dvao-e2e-%d", os.Getpid())
			logPath = filepath.Join(tmp, "manager-crun.log")
			logFile, err := os.Create(logPath)
			Expect(err).NotTo(HaveOccurred())
			// crun 1.8 refuses a hybrid cgroup layout (v1 controllers, and a cgroup2 hierarchy at
			// /sys/fs/cgroup/unified with controllers) even when it is told to leave cgroups alone:
			// in a mount namespace of its own, without that mount, it sees plain v1 and starts.
			container = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
				`if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified; fi; exec "$0" "$@"`,
				crun, "--root", stateDir, "--cgroup-manager=disabled", "run", "--bundle", bundle, id)
			container.Stdout, container.Stderr = logFile, logFile
			container.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			Expect(container.Start()).To(Succeed())
			exited = make(chan error, 1)
			go func() { exited <- container.Wait(); logFile.Close() }()
			started := false
			DeferCleanup(func() {
				defer func() {
					_ = exec.Command(crun, "--root", stateDir, "--cgroup-manager=disabled", "delete", "--force", id).Run()
				}()
				if !started {
					return
				}
				_ = exec.Command(crun, "--root", stateDir, "--cgroup-manager=disabled", "kill", id, "SIGTERM").Run()
				select {
				case err := <-exited:
					Expect(err).NotTo(HaveOccurred(), "the manager exits cleanly on SIGTERM in the container; its log:\n%s", tail(logPath, 20))
				case <-time.After(30 * time.Second):
					_ = exec.Command(crun, "--root", stateDir, "--cgroup-manager=disabled", "kill", id, "SIGKILL").Run()
					<-exited
					Fail("the manager did not stop within 30s of SIGTERM")
				}
			})

			ready := false
			deadline := time.Now().Add(90 * time.Second)
			for !ready && time.Now().Before(deadline) {
				select {
				case err := <-exited:
					log := tail(logPath, 40)
					// The manager logs JSON lines from its first moment; a log without one means the
					// runtime never started it (no namespaces, mounts or privileges here), which is
					// the environment's limit, not the image's.
					if !regexp.MustCompile(`(?m)^\{`).MatchString(log) {
						Skip(fmt.Sprintf("crun cannot start a container in this environment (%v); its output:\n%s", err, log))
					}
					Fail(fmt.Sprintf("the manager in the container exited before it was ready (%v); its log:\n%s", err, log))
				default:
				}
				if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)); err == nil {
					resp.Body.Close()
					ready = resp.StatusCode == http.StatusOK
				}
				time.Sleep(300 * time.Millisecond)
			}
			started = true
			Expect(ready).To(BeTrue(), "the manager in the container was not ready within 90s; its log:\n%s", tail(logPath, 40))
		})

		It("runs as uid/gid 65532 with no capabilities, no_new_privs and a read-only root filesystem", func() {
			out, err := exec.CommandContext(suiteCtx, "crun", "--root", stateDir, "--cgroup-manager=disabled", "state", id).Output()
			Expect(err).NotTo(HaveOccurred())
			var state struct {
				Pid    int    `json:"pid"`
				Status string `json:"status"`
			}
			Expect(json.Unmarshal(out, &state)).To(Succeed())
			Expect(state.Status).To(Equal("running"))
			st := procStatus(state.Pid)
			Expect(strings.Fields(st["Uid"])).To(HaveEach("65532"))
			Expect(strings.Fields(st["Gid"])).To(HaveEach("65532"))
			for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
				Expect(st[c]).To(MatchRegexp(`^0+$`), c)
			}
			Expect(st["NoNewPrivs"]).To(Equal("1"))
			mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", state.Pid))
			Expect(err).NotTo(HaveOccurred())
			var rootOpts string
			for _, line := range strings.Split(string(mounts), "\n") {
				if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
					rootOpts = f[5] // the last mount of / is the one the process sees
				}
			}
			Expect(strings.Split(rootOpts, ",")).To(ContainElement("ro"), "mount options of /: %s", rootOpts)
		})

		It("settles the samples applied in reverse order, against the local control plane", func() {
			kubectl("create", "namespace", ns)
			applySamplesInReverse(ns)
			expectSamplesSettled(ns)
			Expect(tail(logPath, 10000)).NotTo(ContainSubstring("forbidden"))
		})
	})
})

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
