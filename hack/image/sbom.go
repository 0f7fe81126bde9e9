package main

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// The SBOM is SPDX 2.3 JSON built from what the Go linker embeds in each binary (debug/buildinfo):
// the main module, every module linked in with its version and go.sum hash, the Go toolchain and
// the build settings. That is the exact module graph of what ships, not of go.mod (which also
// names test-only and tool modules), and needs no external tool.

type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name                  string            `json:"name"`
	SPDXID                string            `json:"SPDXID"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	Supplier              string            `json:"supplier,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	LicenseConcluded      string            `json:"licenseConcluded"`
	LicenseDeclared       string            `json:"licenseDeclared"`
	CopyrightText         string            `json:"copyrightText"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
	Comment               string            `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(parts ...string) string {
	return "SPDXRef-" + strings.Trim(spdxIDUnsafe.ReplaceAllString(strings.Join(parts, "-"), "-"), "-")
}

// purl is a package URL of type golang (the path's slashes are kept, as the purl spec's golang
// examples do; the version is escaped).
func purl(path, version string, qualifiers ...string) string {
	s := "pkg:golang/" + path
	if version != "" {
		s += "@" + url.PathEscape(version)
	}
	if len(qualifiers) > 0 {
		s += "?" + strings.Join(qualifiers, "&")
	}
	return s
}

// Binary is one built manager binary and its platform.
type Binary struct {
	Platform Platform
	Data     []byte
}

// SBOM describes the image (its index digest), each platform's manager binary and every Go
// module linked into it. A module linked into every binary appears once.
func SBOM(imageName, indexDigest string, meta Metadata, bins []Binary) ([]byte, error) {
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        fmt.Sprintf("%s-%s", imageName, meta.Version),
		// A namespace must be unique per document: the index digest is.
		DocumentNamespace: fmt.Sprintf("%s/spdx/%s/%s", strings.TrimSuffix(meta.Source, "/"), url.PathEscape(meta.Version), strings.TrimPrefix(indexDigest, "sha256:")),
		CreationInfo: spdxCreationInfo{
			// SOURCE_DATE_EPOCH, like the image: building twice gives the same SBOM.
			Created:  meta.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: dataverse-access-operator/hack/image", "Organization: accessplane"},
		},
	}
	imageID := spdxID("image", imageName)
	doc.Packages = append(doc.Packages, spdxPackage{
		Name:             imageName,
		SPDXID:           imageID,
		VersionInfo:      meta.Version,
		DownloadLocation: noAssertion,
		Checksums:        []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: strings.TrimPrefix(indexDigest, "sha256:")}},
		LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
		PrimaryPackagePurpose: "CONTAINER",
		ExternalRefs: []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl",
			ReferenceLocator: "pkg:oci/" + imageName + "@" + url.PathEscape(indexDigest)}},
		Comment: fmt.Sprintf("OCI image index; source %s, revision %s", meta.Source, meta.Revision),
	})
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", imageID})

	modules := map[string]spdxPackage{} // by SPDXID
	for _, b := range bins {
		bi, err := buildinfo.Read(bytes.NewReader(b.Data))
		if err != nil {
			return nil, fmt.Errorf("reading the build info of the %s manager: %w", b.Platform, err)
		}
		sum := sha256.Sum256(b.Data)
		binID := spdxID("binary", "manager", b.Platform.OS, b.Platform.Arch)
		doc.Packages = append(doc.Packages, spdxPackage{
			Name:             "manager (" + b.Platform.String() + ")",
			SPDXID:           binID,
			VersionInfo:      meta.Version,
			DownloadLocation: noAssertion,
			Checksums:        []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: hex.EncodeToString(sum[:])}},
			LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
			PrimaryPackagePurpose: "APPLICATION",
			ExternalRefs: []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl",
				ReferenceLocator: purl(bi.Main.Path, meta.Version, "goos="+b.Platform.OS, "goarch="+b.Platform.Arch)}},
			Comment: "/manager; go " + bi.GoVersion + "; build settings: " + settings(bi.Settings),
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{imageID, "CONTAINS", binID})

		deps := append([]*debug.Module{{Path: "stdlib", Version: bi.GoVersion}}, bi.Deps...)
		for _, m := range deps {
			if m.Replace != nil {
				m = m.Replace
			}
			id := spdxID("gomod", m.Path, m.Version)
			if _, ok := modules[id]; !ok {
				p := spdxPackage{
					Name:             m.Path,
					SPDXID:           id,
					VersionInfo:      m.Version,
					DownloadLocation: noAssertion,
					LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
					PrimaryPackagePurpose: "LIBRARY",
					ExternalRefs: []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl",
						ReferenceLocator: purl(m.Path, m.Version)}},
				}
				if m.Path == "stdlib" {
					p.Comment = "the Go standard library and runtime"
				} else {
					// The purl locates the module. go.sum's h1 hash is a hash of the module's file
					// tree, not of one file, so it is not an SPDX checksum; it is what `go mod
					// verify` checks.
					p.Comment = "go.sum " + m.Sum
				}
				modules[id] = p
			}
			doc.Relationships = append(doc.Relationships, spdxRelationship{binID, "DEPENDS_ON", id})
		}
	}
	ids := make([]string, 0, len(modules))
	for id := range modules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		doc.Packages = append(doc.Packages, modules[id])
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func settings(s []debug.BuildSetting) string {
	var parts []string
	for _, kv := range s {
		parts = append(parts, kv.Key+"="+kv.Value)
	}
	return strings.Join(parts, " ")
}
