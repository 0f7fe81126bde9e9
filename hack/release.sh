#!/usr/bin/env bash
# make release VERSION=vX.Y.Z IMAGE_REPO=registry.example.com/dataverse-access-operator
#
# Writes the release's artifacts to dist/, each naming the image by the digest this build
# computed, so what a cluster admin installs is exactly what was built and checksummed:
#   install.yaml                                  the kustomize bundle (config/default), image REPO@sha256:...
#   dataverse-access-operator-X.Y.Z.tgz           the Helm chart, image.repository/digest set to the same
#   dataverse-access-operator-vX.Y.Z.oci.tar      the multi-platform image, an OCI layout as a tarball
#   dataverse-access-operator-vX.Y.Z.digest       its index digest
#   dataverse-access-operator-vX.Y.Z.spdx.json    SPDX SBOM of every Go module in the binaries
#   SHA256SUMS                                    sha256sum -c SHA256SUMS checks them all
# Then `make image-push IMG=$IMAGE_REPO:$VERSION` publishes the image with that digest.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${VERSION:?}" "${HELM:?}" "${KUSTOMIZE:?}"
if ! [[ "${VERSION}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "make release: VERSION must be a semantic version with a leading v, e.g. VERSION=v0.2.0 (got '${VERSION}')" >&2
  exit 1
fi
if [ -z "${IMAGE_REPO:-}" ] || [[ "${IMAGE_REPO}" != */* ]]; then
  echo "make release: IMAGE_REPO must name the registry and repository the image will be pushed to, e.g. IMAGE_REPO=registry.example.com/dataverse-access-operator (got '${IMAGE_REPO:-}')" >&2
  exit 1
fi
if [[ "${IMAGE_REPO}" == *:* && "${IMAGE_REPO##*/}" == *:* ]] || [[ "${IMAGE_REPO}" == *@* ]]; then
  echo "make release: IMAGE_REPO is a repository without tag or digest (got '${IMAGE_REPO}')" >&2
  exit 1
fi
if [ -n "$(git status --porcelain -- api config controllers internal charts hack ./*.go go.mod go.sum 2>/dev/null)" ]; then
  echo "make release: warning: the tree has uncommitted changes; the image's revision label is HEAD ($(git rev-parse --short HEAD)) but its binary is built from the working tree" >&2
fi

name=dataverse-access-operator
chart_version="${VERSION#v}"
dist=dist
image_dir="${dist}/image"
mkdir -p "${dist}"

echo "release ${VERSION}: building the image"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH}" go run ./hack/image build -out "${image_dir}" -platforms "${PLATFORMS}" \
  -version "${VERSION}" -revision "${REVISION}"
digest="$(cat "${image_dir}/image.digest")"
cp "${image_dir}/image.oci.tar" "${dist}/${name}-${VERSION}.oci.tar"
cp "${image_dir}/image.digest" "${dist}/${name}-${VERSION}.digest"
cp "${image_dir}/sbom.spdx.json" "${dist}/${name}-${VERSION}.spdx.json"

work="$(mktemp -d "${dist}/.release.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

echo "release ${VERSION}: install.yaml with ${IMAGE_REPO}@${digest}"
# An overlay instead of `kustomize edit` on config/manager, so that the release leaves the tree as
# it found it. config/manager names the image dataverse-access-operator.
mkdir -p "${work}/overlay"
cat > "${work}/overlay/kustomization.yaml" <<EOF
resources:
- ../../../config/default
images:
- name: ${name}
  newName: ${IMAGE_REPO}
  digest: ${digest}
EOF
"${KUSTOMIZE}" build "${work}/overlay" > "${dist}/install.yaml"
if ! grep -q "image: ${IMAGE_REPO}@${digest}" "${dist}/install.yaml"; then
  echo "make release: dist/install.yaml does not name ${IMAGE_REPO}@${digest}: does config/manager/kustomization.yaml still name the image ${name}? (make deploy/build-installer IMG=... change it)" >&2
  exit 1
fi

echo "release ${VERSION}: chart ${chart_version}"
# The packaged chart's defaults name the released image by digest; the chart in the tree keeps
# its development defaults.
cp -r "charts/${name}" "${work}/chart"
values="${work}/chart/values.yaml"
sed -i -e "s#^  repository: .*#  repository: ${IMAGE_REPO}#" -e "s#^  digest: \"\"#  digest: ${digest}#" "${values}"
grep -q "^  digest: ${digest}$" "${values}" || { echo "make release: could not set the digest in the chart's values.yaml" >&2; exit 1; }
"${HELM}" lint --strict "${work}/chart" >/dev/null
"${HELM}" package "${work}/chart" --version "${chart_version}" --app-version "${VERSION}" -d "${work}" >/dev/null
# helm package stamps the files with the current time; repack what it wrote with SOURCE_DATE_EPOCH,
# sorted, owned by 0:0 and gzip without a name or time, so the chart's checksum is reproducible too.
mkdir -p "${work}/pkg"
tar -xzf "${work}/${name}-${chart_version}.tgz" -C "${work}/pkg"
tar -C "${work}/pkg" --sort=name --mtime="@${SOURCE_DATE_EPOCH}" --owner=0 --group=0 --numeric-owner --format=gnu -cf - "${name}" \
  | gzip -9 -n > "${dist}/${name}-${chart_version}.tgz"
"${HELM}" lint --strict "${dist}/${name}-${chart_version}.tgz" >/dev/null

(
  cd "${dist}"
  sha256sum install.yaml "${name}-${chart_version}.tgz" "${name}-${VERSION}.oci.tar" "${name}-${VERSION}.digest" \
    "${name}-${VERSION}.spdx.json" > SHA256SUMS
)
echo "release ${VERSION}: ${dist}/"
cat "${dist}/SHA256SUMS"
echo "image ${IMAGE_REPO}:${VERSION} = ${IMAGE_REPO}@${digest}; publish it with: make image-push IMG=${IMAGE_REPO}:${VERSION}"
