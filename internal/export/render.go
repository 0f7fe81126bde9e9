package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// File is one file of the output folder.
type File struct {
	Name string
	Data []byte
}

// Render writes the objects as one file per kind and a kustomization listing them, in a fixed
// order with sorted keys, so the same input gives the same bytes. Each file starts with where it
// came from; the kustomization lists what was skipped or cannot be expressed.
func Render(src Source, opt Options, objs *Objects, sum *Summary) ([]File, error) {
	header := fmt.Sprintf("# Exported by `manager export` from %s (environment %s), read at %s.\n"+
		"# Every target is Observe, so applying this folder changes nothing: review it, apply it, and\n"+
		"# switch spec.dataverse.managementPolicy (and spec.entra's) to Manage once nothing is Drifted.\n",
		src.URL, orNone(src.EnvironmentID), src.ReadAt.UTC().Format(time.RFC3339))
	type kind struct {
		file, what string
		docs       []object
	}
	kinds := []kind{
		{"environment.yaml", "The Environment: its business-unit tree and targets.", []object{&objs.Environment}},
		{"securityroles.yaml", "SecurityRoles: every custom role, and the built-in roles people hold that the Environment does not keep itself.", objectsOf(objs.SecurityRoles)},
		{"platformusers.yaml", "PlatformUsers: the people.", objectsOf(objs.PlatformUsers)},
		{"applicationusers.yaml", "ApplicationUsers that hold a security role.", objectsOf(objs.ApplicationUsers)},
		{"teams.yaml", "Teams: owner, access and group teams (each unit's default team is Dataverse's own).", objectsOf(objs.Teams)},
	}
	var files []File
	var resources []string
	for _, k := range kinds {
		if len(k.docs) == 0 {
			continue
		}
		var buf bytes.Buffer
		buf.WriteString(header)
		buf.WriteString("# " + k.what + "\n")
		for _, d := range k.docs {
			key := commentKey(d.GetObjectKind().GroupVersionKind().Kind, d.GetName())
			data, err := marshal(d)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			buf.WriteString("---\n")
			for _, c := range objs.Comments[key] {
				buf.WriteString("# " + c + "\n")
			}
			buf.Write(data)
		}
		files = append(files, File{Name: k.file, Data: buf.Bytes()})
		resources = append(resources, k.file)
	}
	var kust bytes.Buffer
	kust.WriteString(header)
	kust.WriteString("#   kubectl create namespace " + opt.Namespace + " && kubectl apply -k <this folder>\n")
	writeNotes(&kust, "Skipped (never exported)", sum.Skipped)
	writeNotes(&kust, "Not expressible as it is (listed, not exported as it is)", sum.Unexpressed)
	writeNotes(&kust, "Renamed (a derived name was taken)", sum.Renamed)
	if sum.LicensesUnknown > 0 {
		fmt.Fprintf(&kust, "# %d licensed people have no spec.license: their SKU is unknown without Entra ID (--entra=false).\n", sum.LicensesUnknown)
	}
	kust.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, r := range resources {
		kust.WriteString("  - " + r + "\n")
	}
	files = append(files, File{Name: "kustomization.yaml", Data: kust.Bytes()})
	return files, nil
}

// object is what Render needs of an exported object: its kind (TypeMeta, set by Build) and name.
type object interface {
	GetName() string
	GetObjectKind() schema.ObjectKind
}

// objectsOf lists the objects of one kind in their order.
func objectsOf[T any, P interface {
	*T
	object
}](items []T) []object {
	out := make([]object, len(items))
	for i := range items {
		out[i] = P(&items[i])
	}
	return out
}

func writeNotes(buf *bytes.Buffer, title string, notes []Note) {
	if len(notes) == 0 {
		return
	}
	buf.WriteString("#\n# " + title + ":\n")
	for _, n := range notes {
		buf.WriteString("#   - " + strings.ReplaceAll(n.String(), "\n", " ") + "\n")
	}
}

func orNone(s string) string {
	if s == "" {
		return "id unknown"
	}
	return s
}

// marshal writes an object's apiVersion, kind, metadata (name, namespace) and spec, with empty
// values left out (no status, no creationTimestamp, no empty settings).
func marshal(obj any) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	meta, _ := m["metadata"].(map[string]any)
	out := map[string]any{
		"apiVersion": m["apiVersion"],
		"kind":       m["kind"],
		"metadata":   map[string]any{"name": meta["name"], "namespace": meta["namespace"]},
	}
	if spec := prune(m["spec"]); spec != nil {
		out["spec"] = spec
	}
	return yaml.Marshal(out)
}

// prune drops empty maps and lists (what omitempty leaves for nested structs).
func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if p := prune(e); p == nil {
				delete(t, k)
			} else {
				t[k] = p
			}
		}
		if len(t) == 0 {
			return nil
		}
		return t
	case []any:
		if len(t) == 0 {
			return nil
		}
		for i := range t {
			if p := prune(t[i]); p != nil {
				t[i] = p
			}
		}
		return t
	}
	return v
}
