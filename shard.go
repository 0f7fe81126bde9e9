package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// Sharding: one manager per set of namespaces (--watch-namespaces), each with a lease of its own.

// defaultLeaderElectionID is the lease of a manager that watches every namespace. It is the name
// every release before sharding used, so that upgrading an unsharded install hands over from the
// old replicas to the new ones instead of running two leaders side by side.
const defaultLeaderElectionID = "dataverse-access-operator.access.accessplane.io"

// parseWatchNamespaces reads --watch-namespaces: comma-separated namespace names, blanks around
// them ignored. Empty means every namespace (nil). Each name must be a DNS label, as a namespace's
// name is; duplicates are dropped and the names are returned sorted, so that the same set in any
// order makes the same shard (and the same lease).
func parseWatchNamespaces(value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	seen := map[string]bool{}
	var out []string
	for i, part := range strings.Split(value, ",") {
		name := strings.TrimSpace(part)
		if name == "" {
			return nil, fmt.Errorf("--watch-namespaces=%q: name %d is empty (comma-separated namespace names, or nothing for every namespace)", value, i+1)
		}
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return nil, fmt.Errorf("--watch-namespaces=%q: %q is not a namespace name: %s", value, name, strings.Join(errs, "; "))
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// leaderElectionID is the lease of the shard that watches namespaces (sorted and without
// duplicates, as parseWatchNamespaces returns them), unless --leader-election-id names one.
//
// Why derived from the namespaces rather than only a flag: every replica of one shard must
// compete for the same lease and every other shard must not, whatever installs it (the chart's
// one release per shard sets only watchNamespaces; a kustomize overlay only the flag). The set of
// namespaces is what tells shards apart, so a stable hash of it names the lease: replicas of a
// shard agree without coordination, two shards on different sets lead at once, and two managers
// misconfigured with the same set still share one leader. A hash, not the names themselves,
// because a Lease's name is at most 253 characters and a shard may watch many namespaces.
// Every namespace (nil) keeps defaultLeaderElectionID.
//
// The cost: changing a shard's namespaces changes its lease, so during that rolling update the
// old replicas (old set) and the new ones (new set) each lead, both reconciling the namespaces
// the two sets share, until the old ones stop. --leader-election-id, set once per shard and kept,
// avoids that.
func leaderElectionID(flagValue string, namespaces []string) (string, error) {
	if flagValue != "" {
		if errs := validation.IsDNS1123Subdomain(flagValue); len(errs) > 0 {
			return "", fmt.Errorf("--leader-election-id=%q is not a Lease name: %s", flagValue, strings.Join(errs, "; "))
		}
		return flagValue, nil
	}
	if len(namespaces) == 0 {
		return defaultLeaderElectionID, nil
	}
	sum := sha256.Sum256([]byte(strings.Join(namespaces, ",")))
	return "dataverse-access-operator-" + hex.EncodeToString(sum[:8]) + ".access.accessplane.io", nil
}

// watchNamespacesCache restricts base (controllers.CacheOptions: its transform and any per-object
// settings are kept) to namespaces; with none it watches every namespace, as base does.
// Cluster-scoped objects are cached cluster-wide either way.
func watchNamespacesCache(base cache.Options, namespaces []string) cache.Options {
	if len(namespaces) == 0 {
		return base
	}
	defaults := make(map[string]cache.Config, len(namespaces))
	for _, ns := range namespaces {
		// A namespace base already configures keeps its settings; the rest take the defaults.
		defaults[ns] = base.DefaultNamespaces[ns]
	}
	base.DefaultNamespaces = defaults
	return base
}
