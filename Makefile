# dataverse-access-operator
# Tools go to bin/ (git-ignored); envtest's control plane is built from source into a cache outside
# the clone (hack/envtest-assets.sh), because prebuilt downloads are not reachable.

IMG ?= dataverse-access-operator:dev
LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_GEN_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.1
K8S_VERSION ?= 1.36.3
ETCD_VERSION ?= 3.6.5
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
GO_TEST_FLAGS ?=

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen kustomize ## Generate CRDs and RBAC from the markers, and the Helm chart from config/.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	@# manager plan validates offline with a copy of the CRDs built into the binary; keep it equal.
	go generate ./internal/plan
	@# The Helm chart is rendered from config/ (hack/chart); keep it equal too.
	@go run ./hack/chart -kustomize $(KUSTOMIZE)

.PHONY: generate
generate: controller-gen ## Generate deepcopy code from the markers.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl from source into the asset cache (first run under 10 min on 2 cores).
	@K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh >/dev/null

.PHONY: test
test: manifests generate fmt vet envtest ## Run every test but the end-to-end ones against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh)" \
		go test -count=1 $$(go list ./... | grep -v /test/e2e) $(GO_TEST_FLAGS)

.PHONY: test-e2e
test-e2e: manifests generate fmt vet envtest kustomize helm crun ## End to end: the manager binary and kubectl on a local control plane (install bundle, RBAC, kstatus, Argo CD, metrics, demo).
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh)" \
		go test ./test/e2e/ -count=1 -timeout 30m -v -ginkgo.v $(GO_TEST_FLAGS)

.PHONY: demo
demo: build emulator ## Run the operator and the emulator (Dataverse, Microsoft Graph) with config/samples-entra on a local control plane and show what it decided, what Dataverse and Entra ID hold, and one person disabled (Ctrl-C stops; DEMO_EXIT=1 exits after printing).
	@echo "make demo: building hack/demo; the first run also builds kube-apiserver, etcd and kubectl from source (~10 minutes in all on 2 cores)"
	go build -o $(LOCALBIN)/demo ./hack/demo
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) $(LOCALBIN)/demo

BENCH_FLAGS ?=
.PHONY: bench
bench: envtest ## Scale benchmark: 20 environments x 250 users, 500 application users, 200 roles, 100 teams against the real manager; prints figures and a JSON line (BENCH_FLAGS=-help for sizes).
	go run ./hack/bench $(BENCH_FLAGS)

.PHONY: argocd-cm
argocd-cm: ## Regenerate config/argocd/argocd-cm-patch.yaml from the Argo CD health check config/argocd/health.lua.
	hack/argocd-cm.sh

PLAN_FLAGS ?= -f config/samples -n contoso
.PHONY: plan
plan: ## Plan YAML offline: what kubectl apply would refuse, Ready/Stalled per object, and with --base DIR or --cluster the access diff (PLAN_FLAGS="-f DIR --base DIR -o markdown"; exit 1 when refused or Stalled).
	go build -o $(LOCALBIN)/manager .
	$(LOCALBIN)/manager plan $(PLAN_FLAGS)

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary into bin/manager.
	go build -o $(LOCALBIN)/manager .

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster of the current kubeconfig.
	go run . --leader-elect=false

.PHONY: emulator
emulator: ## Build the Dataverse Web API emulator into bin/dataverse-emulator (README: "Running the emulator by hand").
	go build -o $(LOCALBIN)/dataverse-emulator ./hack/dataverse-emulator

##@ Deployment

.PHONY: install
install: manifests kustomize ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRDs from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator to the cluster (image IMG).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator from the cluster.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: build-installer
build-installer: manifests generate kustomize ## Write the install bundle to dist/install.yaml.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Image, chart and release

# VERSION labels the image and names the release; REVISION and SOURCE_DATE_EPOCH (every timestamp
# in the image and the SBOM: the last commit's time) make one commit build to one digest.
VERSION ?= dev
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_DIR ?= dist/image
CHART_DIR = charts/dataverse-access-operator

.PHONY: image
image: ## Build the image without a container engine (PLATFORMS): OCI layout, tarball, digest and SPDX SBOM in dist/image/.
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) go run ./hack/image build -out $(IMAGE_DIR) -platforms $(PLATFORMS) -version $(VERSION) -revision $(REVISION)

.PHONY: image-push
image-push: ## Push the image of dist/image (make image) to IMG=registry/repository:tag, with the credentials of ~/.docker/config.json.
	go run ./hack/image push -layout $(IMAGE_DIR)/oci $(IMG)

.PHONY: chart
chart: manifests ## Render charts/dataverse-access-operator (templates/, crds/, values.yaml) from config/ (make manifests does too).

.PHONY: chart-lint
chart-lint: helm ## helm lint the chart with its default values and with every value set (hack/chart/testdata).
	$(HELM) lint --strict $(CHART_DIR)
	$(HELM) lint --strict $(CHART_DIR) -f hack/chart/testdata/values-nondefault.yaml

.PHONY: release
release: chart helm kustomize ## Release artifacts in dist/ (VERSION=vX.Y.Z IMAGE_REPO=registry/repository): install.yaml, chart, image tarball and digest, SBOM, SHA256SUMS.
	VERSION=$(VERSION) IMAGE_REPO=$(IMAGE_REPO) REVISION=$(REVISION) SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
		PLATFORMS=$(PLATFORMS) HELM=$(HELM) KUSTOMIZE=$(KUSTOMIZE) hack/release.sh

##@ Tools

KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo "$$(hack/envtest-assets.sh)/kubectl")

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

# helm, from source through the module proxy (prebuilt downloads are not reachable).
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm
.PHONY: helm
helm: $(HELM)
$(HELM):
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# crun runs the image as an OCI bundle in the end-to-end tests. It is a Debian package: install it
# where this runs as root with apt-get (CI); elsewhere the spec that needs it says so and skips.
.PHONY: crun
crun:
	@command -v crun >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing crun (apt-get)"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends crun >/dev/null) \
				|| echo "could not install crun: the e2e spec that runs the image will skip" >&2; \
		else echo "crun is missing and cannot be installed here: the e2e spec that runs the image will skip" >&2; fi; }

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
