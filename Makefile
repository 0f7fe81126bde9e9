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
manifests: controller-gen ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

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
envtest: ## Build kube-apiserver, etcd and kubectl from source into the asset cache (first run ~10 min).
	@K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh >/dev/null

.PHONY: test
test: manifests generate fmt vet envtest ## Run every test but the end-to-end ones against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh)" \
		go test -count=1 $$(go list ./... | grep -v /test/e2e) $(GO_TEST_FLAGS)

.PHONY: test-e2e
test-e2e: manifests generate fmt vet envtest kustomize ## End to end: the manager binary and kubectl on a local control plane (install bundle, RBAC, kstatus, Argo CD, metrics, demo).
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh)" \
		go test ./test/e2e/ -count=1 -timeout 30m -v -ginkgo.v $(GO_TEST_FLAGS)

.PHONY: demo
demo: build ## Run the operator with the samples on a local control plane and show what it decided (Ctrl-C stops; DEMO_EXIT=1 exits after printing).
	@echo "make demo: building hack/demo; the first run also builds kube-apiserver, etcd and kubectl from source (~10 minutes on 2 cores)"
	go build -o $(LOCALBIN)/demo ./hack/demo
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) $(LOCALBIN)/demo

BENCH_FLAGS ?=
.PHONY: bench
bench: envtest ## Scale benchmark: 20 environments x 250 users, 500 application users, 200 roles, 100 teams against the real manager; prints figures and a JSON line (BENCH_FLAGS=-help for sizes).
	go run ./hack/bench $(BENCH_FLAGS)

.PHONY: argocd-cm
argocd-cm: ## Regenerate config/argocd/argocd-cm-patch.yaml from the Argo CD health check config/argocd/health.lua.
	hack/argocd-cm.sh

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary into bin/manager.
	go build -o $(LOCALBIN)/manager .

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster of the current kubeconfig.
	go run . --leader-elect=false

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

##@ Tools

KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo "$$(hack/envtest-assets.sh)/kubectl")

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
