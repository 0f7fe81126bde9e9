#!/usr/bin/env bash
# Builds envtest's control plane (kube-apiserver, etcd, kubectl) from source through the Go module
# proxy, because setup-envtest's prebuilt downloads are not reachable from this project's machines.
# The result lands in a versioned cache directory outside the clone, so reruns and CI reuse it.
# Idempotent: if every binary is present and answers --version, nothing is built.
# Prints the asset directory (for KUBEBUILDER_ASSETS) as the last line on stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.5}"
CACHE_ROOT="${ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dataverse-access-operator/envtest}"
ASSETS="${CACHE_ROOT}/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-$(go env GOOS)-$(go env GOARCH)"

log() { echo "envtest-assets: $*" >&2; }

have() {
  [ -x "${ASSETS}/$1" ] || return 1
  if [ "$1" = kubectl ]; then "${ASSETS}/kubectl" version --client >/dev/null 2>&1; else "${ASSETS}/$1" --version >/dev/null 2>&1; fi
}

if have kube-apiserver && have etcd && have kubectl; then
  log "control plane cached in ${ASSETS}"
  echo "${ASSETS}"
  exit 0
fi

mkdir -p "${ASSETS}"
WORK="$(mktemp -d "${CACHE_ROOT}/build.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT

# k8s.io/kubernetes pins its staging modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and
# replaces them with ./staging paths that a module zip cannot use; map each to its v0.x.y release.
STAGING_VERSION="v0.${K8S_VERSION#1.}"
if ! have kube-apiserver || ! have kubectl; then
  log "building kube-apiserver and kubectl v${K8S_VERSION} from source (first build takes ~10 minutes on 2 cores)"
  mkdir -p "${WORK}/k8s"
  cd "${WORK}/k8s"
  go mod init envtest-k8s >/dev/null 2>&1
  gomod="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  go_directive="$(sed -n 's/^go \(.*\)$/\1/p' "${gomod}" | head -1)"
  {
    echo "module envtest-k8s"
    echo
    echo "go ${go_directive}"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\t\1 => \1 '"${STAGING_VERSION}"'#p' "${gomod}"
    echo ")"
  } > go.mod
  # Copy the rest of kubernetes' requirements so the build sees the exact versions it was tested with.
  awk '/^require \(/{inblock=1; next} inblock && /^\)/{inblock=0; next} inblock {print}' "${gomod}" \
    | grep -v '^\s*k8s.io/[a-z0-9-]* v0.0.0' | sed 's#// indirect##' > reqs.txt
  { echo "require ("; cat reqs.txt; echo ")"; } >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=v${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=$(echo "${K8S_VERSION}" | cut -d. -f2)"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  log "resolving modules"
  # tidy, not "go get": go get would move k8s.io/kubernetes to the newest release.
  go mod tidy >&2
  grep -q "k8s.io/kubernetes v${K8S_VERSION}" go.mod || { log "ERROR: go mod tidy moved k8s.io/kubernetes off v${K8S_VERSION}"; exit 1; }
  log "compiling kube-apiserver"
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "${ldflags}" -o "${ASSETS}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  log "compiling kubectl"
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "${ldflags}" -o "${ASSETS}/kubectl" k8s.io/kubernetes/cmd/kubectl
fi

if ! have etcd; then
  log "building etcd v${ETCD_VERSION} from source"
  mkdir -p "${WORK}/etcd"
  cd "${WORK}/etcd"
  go mod init envtest-etcd >/dev/null 2>&1
  cat > main.go <<'GO'
// Command etcd is etcd's server, built from its module so envtest needs no prebuilt download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >&2
  GOFLAGS=-mod=mod go mod tidy >&2
  log "compiling etcd"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v${ETCD_VERSION}" -o "${ASSETS}/etcd" .
fi

for b in kube-apiserver etcd kubectl; do
  have "$b" || { log "ERROR: ${ASSETS}/$b does not run"; exit 1; }
done
log "control plane ready in ${ASSETS}: $("${ASSETS}/kube-apiserver" --version), etcd $("${ASSETS}/etcd" --version | head -1 | awk '{print $3}')"
echo "${ASSETS}"
