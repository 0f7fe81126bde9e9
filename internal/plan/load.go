package plan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Source is where an object was read: a file and the line its document starts on. Objects built
// by kustomize have no line (0) and name the kustomization directory, plus the file kustomize
// read them from when it says so.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	// Kustomization is the directory kustomize built, for objects that came out of it.
	Kustomization string `json:"kustomization,omitempty"`
}

func (s Source) String() string {
	switch {
	case s.Line > 0:
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	case s.Kustomization != "" && s.File != "":
		return fmt.Sprintf("%s (kustomize build %s)", s.File, s.Kustomization)
	case s.Kustomization != "":
		return fmt.Sprintf("kustomize build %s", s.Kustomization)
	}
	return s.File
}

// Document is one object read from the input, in input order.
type Document struct {
	Source Source
	Object *unstructured.Unstructured
	// node is the document's YAML, for the line of a field; nil for kustomize output.
	node *yamlv3.Node
	// firstLine is the file line of the document's first line, to turn node lines into file lines.
	firstLine int
}

// FieldLine is the file line of a field path such as spec.tables[0].privileges, or of its closest
// parent that the document spells out; the document's line when none is found.
func (d Document) FieldLine(path string) int {
	if d.node == nil {
		return d.Source.Line
	}
	n := d.node
	if n.Kind == yamlv3.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range splitFieldPath(path) {
		next := childNode(n, step)
		if next == nil {
			break
		}
		n = next
		line = n.Line
	}
	return d.firstLine + line - 1
}

// InputError is input plan cannot read: a missing file, YAML that does not parse, an object of an
// unknown kind. It names the file and line, and says what to change.
type InputError struct {
	Source Source
	Msg    string
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Source, e.Msg) }

// InputErrors are every input error of one run, so a single run tells the whole story.
type InputErrors []*InputError

func (es InputErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Load reads the objects of every path, in order: a file is read as YAML documents; a directory
// with a kustomization is built with kustomize; any other directory is read file by file
// (*.yaml, *.yml and *.json, sorted by path, recursively). Errors are collected across all paths.
func Load(paths []string) ([]Document, error) {
	var docs []Document
	var errs InputErrors
	for _, p := range paths {
		d, e := loadPath(p)
		docs = append(docs, d...)
		errs = append(errs, e...)
	}
	if len(errs) > 0 {
		return docs, errs
	}
	return docs, nil
}

func loadPath(p string) ([]Document, InputErrors) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, InputErrors{{Source: Source{File: p}, Msg: fmt.Sprintf("cannot read: %v: pass an existing file or directory to -f", unwrapPathError(err))}}
	}
	if !info.IsDir() {
		return loadFile(p)
	}
	if kustomization(p) != "" {
		return loadKustomization(p)
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != p && kustomization(path) != "" {
			// A kustomization below the directory is built as a whole, as kubectl apply -k would.
			files = append(files, path)
			return filepath.SkipDir
		}
		if !d.IsDir() && isManifest(path) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, InputErrors{{Source: Source{File: p}, Msg: fmt.Sprintf("cannot read the directory: %v", err)}}
	}
	sort.Strings(files)
	// Plain files are parsed in parallel; everything is kept in path order.
	type result struct {
		docs []Document
		errs InputErrors
	}
	results := make([]result, len(files))
	var plain []int
	for i := range files {
		if kustomization(files[i]) == "" {
			plain = append(plain, i)
		}
	}
	parallel(plain, func(i int) { results[i].docs, results[i].errs = loadFile(files[i]) })
	// Kustomize keeps global state (its OpenAPI schema): builds run one at a time.
	for i := range files {
		if kustomization(files[i]) != "" {
			results[i].docs, results[i].errs = loadKustomization(files[i])
		}
	}
	var docs []Document
	var errs InputErrors
	for _, r := range results {
		docs = append(docs, r.docs...)
		errs = append(errs, r.errs...)
	}
	return docs, errs
}

func isManifest(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// kustomization returns the kustomization file of dir, or "".
func kustomization(dir string) string {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if info, err := os.Stat(filepath.Join(dir, name)); err == nil && !info.IsDir() {
			return filepath.Join(dir, name)
		}
	}
	return ""
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadFile reads every YAML document of a file. Documents are split the way kubectl splits them
// (a line starting with ---), so line numbers match what a person sees in the file.
func loadFile(path string) ([]Document, InputErrors) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, InputErrors{{Source: Source{File: path}, Msg: fmt.Sprintf("cannot read: %v", unwrapPathError(err))}}
	}
	var docs []Document
	var errs InputErrors
	for _, chunk := range splitDocuments(data) {
		d, err := parseDocument(path, chunk)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d != nil {
			docs = append(docs, *d)
		}
	}
	return docs, errs
}

type chunk struct {
	data      []byte
	firstLine int
}

// splitDocuments splits a YAML stream at document separators, as k8s.io/apimachinery's
// YAMLReader does: a line that starts with "---" and has nothing after it but spaces or a comment.
func splitDocuments(data []byte) []chunk {
	var out []chunk
	cur := chunk{firstLine: 1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if rest, ok := bytes.CutPrefix(text, []byte("---")); ok {
			trimmed := bytes.TrimSpace(rest)
			if len(trimmed) == 0 || trimmed[0] == '#' {
				out = append(out, cur)
				cur = chunk{firstLine: line + 1}
				continue
			}
		}
		cur.data = append(cur.data, text...)
		cur.data = append(cur.data, '\n')
	}
	return append(out, cur)
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseDocument decodes one document; nil for a document with nothing but comments.
func parseDocument(path string, c chunk) (*Document, *InputError) {
	src := Source{File: path, Line: c.firstLine}
	// Values are decoded as kubectl and the API server decode them (YAML 1.1 scalars, JSON
	// numbers as int64 or float64), so what is validated is what the API server would receive,
	// and a syntax error is reported on the line kubectl would name.
	var obj interface{}
	if err := utilyaml.Unmarshal(c.data, &obj); err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		msg = strings.TrimPrefix(msg, "yaml: ")
		if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
			n, _ := strconv.Atoi(msg[m[2]:m[3]])
			src.Line = c.firstLine + n - 1
			msg = strings.TrimSpace(strings.TrimPrefix(msg[:m[0]]+msg[m[1]:], ":"))
		}
		return nil, &InputError{Source: src, Msg: fmt.Sprintf("not YAML: %s", msg)}
	}
	// The same document as nodes, for the line of each field.
	var node yamlv3.Node
	if err := yamlv3.Unmarshal(c.data, &node); err != nil || len(node.Content) == 0 {
		if obj == nil {
			return nil, nil // only comments
		}
		return nil, &InputError{Source: src, Msg: fmt.Sprintf("not YAML: %v", err)}
	}
	root := node.Content[0]
	src.Line = c.firstLine + root.Line - 1
	m, ok := obj.(map[string]interface{})
	if !ok || root.Kind != yamlv3.MappingNode {
		return nil, &InputError{Source: src, Msg: "not a Kubernetes object: a document must be a mapping with apiVersion, kind and metadata"}
	}
	if _, ok := m["items"].([]interface{}); ok && strings.HasSuffix(fmt.Sprint(m["kind"]), "List") {
		return nil, &InputError{Source: src, Msg: "a List is not supported: write each object as its own document, separated by ---"}
	}
	return &Document{Source: src, Object: &unstructured.Unstructured{Object: m}, node: root, firstLine: c.firstLine}, nil
}

// loadKustomization builds dir with kustomize, as kubectl apply -k would, and reads the result.
// Kustomize is asked to record each object's origin, so an object that comes from a local file
// is traced back to its file and document, and its errors get lines like any file's.
func loadKustomization(dir string) ([]Document, InputErrors) {
	src := Source{Kustomization: dir}
	kfile := kustomization(dir)
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(originFS{FileSystem: filesys.MakeFsOnDisk(), kustomization: kfile}, dir)
	if err != nil {
		return nil, InputErrors{{Source: Source{File: kfile}, Msg: fmt.Sprintf("kustomize build failed: %v", err)}}
	}
	files := map[string][]Document{}
	var docs []Document
	var errs InputErrors
	for _, r := range m.Resources() {
		s := src
		var origin *Document
		if o, err := r.GetOrigin(); err == nil && o != nil && o.Path != "" && o.Repo == "" {
			s.File = filepath.Join(dir, o.Path)
			origin = originalDocument(files, s.File, r.GetKind(), r.GetName())
		}
		// The annotation was asked for by plan, not by the kustomization: it is not applied.
		annotations := r.GetAnnotations()
		delete(annotations, originAnnotation)
		if err := r.SetAnnotations(annotations); err != nil {
			errs = append(errs, &InputError{Source: s, Msg: fmt.Sprintf("%s/%s: %v", r.GetKind(), r.GetName(), err)})
			continue
		}
		data, err := r.AsYAML()
		if err != nil {
			errs = append(errs, &InputError{Source: s, Msg: fmt.Sprintf("%s/%s: %v", r.GetKind(), r.GetName(), err)})
			continue
		}
		var obj map[string]interface{}
		if err := utilyaml.Unmarshal(data, &obj); err != nil {
			errs = append(errs, &InputError{Source: s, Msg: fmt.Sprintf("%s/%s: %v", r.GetKind(), r.GetName(), err)})
			continue
		}
		d := Document{Source: s, Object: &unstructured.Unstructured{Object: obj}}
		if origin != nil {
			d.Source.Line, d.node, d.firstLine = origin.Source.Line, origin.node, origin.firstLine
		}
		docs = append(docs, d)
	}
	return docs, errs
}

const originAnnotation = "config.kubernetes.io/origin"

// originFS is the disk, except that the top kustomization also asks kustomize to annotate each
// object with the file it came from (buildMetadata: [originAnnotations]).
type originFS struct {
	filesys.FileSystem
	kustomization string
}

func (f originFS) ReadFile(path string) ([]byte, error) {
	data, err := f.FileSystem.ReadFile(path)
	if err != nil || !samePath(path, f.kustomization) || bytes.Contains(data, []byte("buildMetadata:")) {
		return data, err
	}
	out := append([]byte(nil), data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "buildMetadata: [originAnnotations]\n"...), nil
}

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// originalDocument finds the document of kind and name in file, for its lines; nil when the
// kustomization renamed it or the file does not parse.
func originalDocument(cache map[string][]Document, file, kind, name string) *Document {
	docs, ok := cache[file]
	if !ok {
		docs, _ = loadFile(file)
		cache[file] = docs
	}
	for i := range docs {
		if docs[i].Object.GetKind() == kind && docs[i].Object.GetName() == name {
			return &docs[i]
		}
	}
	return nil
}

// splitFieldPath turns "spec.tables[0].privileges" into [spec tables [0] privileges].
func splitFieldPath(path string) []string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			switch {
			case i < 0:
				out = append(out, part)
				part = ""
			case i > 0:
				out = append(out, part[:i])
				part = part[i:]
			default:
				j := strings.IndexByte(part, ']')
				if j < 0 {
					out = append(out, part)
					part = ""
					continue
				}
				out = append(out, part[:j+1])
				part = part[j+1:]
			}
		}
	}
	return out
}

func childNode(n *yamlv3.Node, step string) *yamlv3.Node {
	if strings.HasPrefix(step, "[") {
		i, err := strconv.Atoi(strings.Trim(step, "[]"))
		if err != nil || n.Kind != yamlv3.SequenceNode || i < 0 || i >= len(n.Content) {
			return nil
		}
		return n.Content[i]
	}
	if n.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == step {
			// The key's line: a block value starts on the next line, but the key is what to change.
			v := n.Content[i+1]
			k := *v
			if v.Kind == yamlv3.ScalarNode || v.Line != n.Content[i].Line {
				k.Line = n.Content[i].Line
			}
			return &k
		}
	}
	return nil
}
