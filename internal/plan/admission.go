package plan

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"sort"
	"strings"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/operation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"sigs.k8s.io/yaml"
)

// The CRDs are embedded so that plan needs no checkout and no cluster: a CI job runs the binary
// alone. They are copies of config/crd/bases (config/ is kustomize, not a Go package), kept equal
// by `go generate ./internal/plan` after `make manifests`; TestEmbeddedCRDsMatchConfig fails when
// they drift. --crds DIR reads another set, e.g. the CRDs of the version a cluster runs.
//
//go:generate sh -c "rm -f crds/*.yaml && cp ../../config/crd/bases/*.yaml crds/"
//go:embed crds/*.yaml
var embeddedCRDs embed.FS

// EmbeddedCRDs are the CRDs this binary was built with.
func EmbeddedCRDs() fs.FS {
	sub, err := fs.Sub(embeddedCRDs, "crds")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// Admission does offline what the API server does to a custom resource on create and update:
// it drops status on create, refuses unknown fields (kubectl's default strict field validation),
// applies the schema's defaults, and validates with the CRD's structural schema, list types and
// CEL rules, through the same k8s.io/apiextensions-apiserver packages, so the field paths and
// messages are the API server's own.
type Admission struct {
	kinds map[schema.GroupVersionKind]*crdKind
	// groups are the API groups of the CRDs, to tell an unknown kind of ours from another API's.
	groups map[string][]string
}

type crdKind struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// NewAdmission reads every CRD (*.yaml) of fsys.
func NewAdmission(fsys fs.FS) (*Admission, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRD (*.yaml) found")
	}
	a := &Admission{kinds: map[schema.GroupVersionKind]*crdKind{}, groups: map[string][]string{}}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			return nil, fmt.Errorf("%s: not a CustomResourceDefinition: %w", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil {
				continue
			}
			k, err := newCRDKind(&crd, v)
			if err != nil {
				return nil, fmt.Errorf("%s: version %s: %w", f, v.Name, err)
			}
			a.kinds[k.gvk] = k
			a.groups[crd.Spec.Group] = append(a.groups[crd.Spec.Group], k.gvk.Kind+" ("+k.gvk.GroupVersion().String()+")")
		}
	}
	return a, nil
}

// newCRDKind builds the schema, validator and CEL validator of one served version, the way the
// API server's customresource handler does (customresource_handler.go, v0.37).
func newCRDKind(crd *apiextensionsv1.CustomResourceDefinition, v apiextensionsv1.CustomResourceDefinitionVersion) (*crdKind, error) {
	internal := &apiextensionsinternal.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
		return nil, err
	}
	s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	s = s.DeepCopy()
	if err := structuraldefaulting.PruneDefaults(s); err != nil {
		return nil, err
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	return &crdKind{
		gvk:        schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind},
		namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		structural: s,
		validator:  validator,
		cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
	}, nil
}

// Knows reports whether gvk is one of the CRDs' kinds.
func (a *Admission) Knows(gvk schema.GroupVersionKind) bool { return a.kinds[gvk] != nil }

// OwnsGroup reports whether group is one of the CRDs' API groups.
func (a *Admission) OwnsGroup(group string) bool { return a.groups[group] != nil }

// KindsOf lists the kinds of group, for a message that says what is known.
func (a *Admission) KindsOf(group string) string {
	ks := append([]string(nil), a.groups[group]...)
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// Admit returns obj as the API server would store it, and every error it would refuse it with.
// old is the object it would update (nil for a create): then immutability and other transition
// rules apply, and status and server-set metadata come from old, as on a kubectl apply.
func (a *Admission) Admit(ctx context.Context, obj, old *unstructured.Unstructured) (*unstructured.Unstructured, field.ErrorList) {
	k := a.kinds[obj.GroupVersionKind()]
	if k == nil {
		return obj, field.ErrorList{field.NotSupported[string](field.NewPath("kind"), obj.GetKind(), nil)}
	}
	out := obj.DeepCopy()
	// The decoder's coercion of metadata (a name that is not a string is refused here, as by the
	// API server) and strict field validation, kubectl's default: an unknown field, in metadata or
	// in the schema, is an error, not silently dropped.
	ferr, unknown := schemaobjectmeta.CoerceWithOptions(nil, out.Object, k.structural, true, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		return out, field.ErrorList{ferr}
	}
	unknown = append(unknown, pruning.PruneWithOptions(out.Object, k.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	if len(unknown) > 0 {
		var errs field.ErrorList
		sort.Strings(unknown)
		for _, p := range unknown {
			errs = append(errs, &field.Error{Type: errorTypeUnknownField, Field: p, BadValue: field.OmitValueType{},
				Detail: fmt.Sprintf("unknown field %q", p)})
		}
		return out, errs
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(out.Object, k.structural)
	structuraldefaulting.Default(out.Object, k.structural)

	if old == nil {
		// PrepareForCreate: create cannot set status; the generation starts at 1.
		delete(out.Object, "status")
		out.SetGeneration(1)
		return out, validateCreate(ctx, k, out)
	}
	// An update keeps status and the server-set metadata of the stored object.
	if st, ok := old.Object["status"]; ok {
		out.Object["status"] = runtime.DeepCopyJSONValue(st)
	} else {
		delete(out.Object, "status")
	}
	out.SetUID(old.GetUID())
	out.SetResourceVersion(old.GetResourceVersion())
	out.SetCreationTimestamp(old.GetCreationTimestamp())
	out.SetGeneration(old.GetGeneration())
	out.SetManagedFields(old.GetManagedFields())
	out.SetFinalizers(old.GetFinalizers())
	out.SetOwnerReferences(old.GetOwnerReferences())
	return out, validateUpdate(ctx, k, out, old)
}

// errorTypeUnknownField marks strict-decoding errors, which the API server returns as BadRequest
// before any validation, not as Invalid.
const errorTypeUnknownField field.ErrorType = "FieldValueUnknown"

// validateCreate is customResourceStrategy.Validate of k8s.io/apiextensions-apiserver v0.37
// (registry/customresource/strategy.go), composed from the same parts: that package itself would
// pull the API server's etcd storage into the manager binary.
func validateCreate(ctx context.Context, k *crdKind, u *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	if e := validateTypeMeta(k, u); len(e) > 0 {
		errs = append(errs, e...)
	} else {
		md, e := objectMeta(u)
		if len(e) > 0 {
			errs = append(errs, e...)
		} else {
			errs = append(errs, apivalidation.ValidateObjectMetaDeclaratively(ctx, operation.Create, md, nil, k.namespaced,
				apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"), utilfeature.DefaultFeatureGate.Enabled(features.DeclarativeValidationBeta))...)
		}
		errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u.UnstructuredContent(), k.validator)...)
	}
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, u.Object, k.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, k.structural, u.Object)...)
	if blocked, e := hasBlockingErr(errs); blocked {
		return append(errs, e)
	}
	celErrs, _ := k.cel.Validate(ctx, nil, k.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// validateUpdate is customResourceStrategy.ValidateUpdate, without ratcheting: plan shows what a
// new object must satisfy, and an object that was already invalid is rare in Git.
func validateUpdate(ctx context.Context, k *crdKind, u, old *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	if e := validateTypeMeta(k, u); len(e) > 0 {
		errs = append(errs, e...)
	} else {
		md, e1 := objectMeta(u)
		oldMD, e2 := objectMeta(old)
		errs = append(errs, e1...)
		errs = append(errs, e2...)
		if len(e1)+len(e2) == 0 {
			errs = append(errs, apivalidation.ValidateObjectMetaDeclaratively(ctx, operation.Update, md, oldMD, k.namespaced,
				nil, field.NewPath("metadata"), utilfeature.DefaultFeatureGate.Enabled(features.DeclarativeValidationBeta))...)
		}
		errs = append(errs, apiservervalidation.ValidateCustomResourceUpdate(nil, u.UnstructuredContent(), old.UnstructuredContent(), k.validator)...)
	}
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, u.Object, k.structural, false)...)
	if oldErrs := structurallisttype.ValidateListSetsAndMaps(nil, k.structural, old.Object); len(oldErrs) == 0 {
		errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, k.structural, u.Object)...)
	}
	if blocked, e := hasBlockingErr(errs); blocked {
		return append(errs, e)
	}
	celErrs, _ := k.cel.Validate(ctx, nil, k.structural, u.Object, old.Object, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

func validateTypeMeta(k *crdKind, u *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	if u.GetKind() != k.gvk.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), u.GetKind(), fmt.Sprintf("must be %v", k.gvk.Kind)))
	}
	if u.GetAPIVersion() != k.gvk.GroupVersion().String() {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion(), fmt.Sprintf("must be %v", k.gvk.GroupVersion())))
	}
	return errs
}

func objectMeta(u *unstructured.Unstructured) (*metav1.ObjectMeta, field.ErrorList) {
	raw := u.Object["metadata"]
	if raw == nil {
		return &metav1.ObjectMeta{}, nil
	}
	m, ok := raw.(map[string]interface{})
	if !ok {
		return nil, field.ErrorList{field.Invalid(field.NewPath("metadata"), raw, fmt.Sprintf("expected map[string]interface{}, got %T", raw))}
	}
	md := &metav1.ObjectMeta{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, md); err != nil {
		return nil, field.ErrorList{field.Invalid(field.NewPath("metadata"), raw, err.Error())}
	}
	return md, nil
}

// hasBlockingErr is the strategy's: CEL rules are skipped when the schema already failed in a
// way that could make them misbehave, with the API server's own note.
func hasBlockingErr(errs field.ErrorList) (bool, *field.Error) {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return false, nil
}
