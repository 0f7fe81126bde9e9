package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/plan"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runPlan is `manager plan -f DIR|FILE... [--base DIR|--cluster] [-o text|json|markdown]`: what
// the operator would decide for a folder of YAML, before it is merged. Exit codes: 0 nothing
// refused or Stalled, 1 something would be refused or Stalled, 2 usage or input errors.
func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, base stringList
	var cluster bool
	var namespace, output, kubeconfig, crds string
	fs.Var(&files, "f", "A file or directory of the proposed state; repeatable. A directory with a kustomization is built with kustomize.")
	fs.Var(&base, "base", "A file or directory of the state to compare with (e.g. the target branch checked out); repeatable.")
	fs.BoolVar(&cluster, "cluster", false, "Compare with the live objects of the namespace, through the kubeconfig.")
	fs.StringVar(&namespace, "n", "", "Namespace of objects that set none (default: the kubeconfig's with --cluster, else \"default\").")
	fs.StringVar(&namespace, "namespace", "", "Same as -n.")
	fs.StringVar(&output, "o", plan.OutputText, "Output format: text, json or markdown.")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig for --cluster (default: $KUBECONFIG, then ~/.kube/config).")
	fs.StringVar(&crds, "crds", "", "Directory of CRDs to validate against (default: the CRDs this binary was built with).")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: manager plan -f DIR|FILE... [--base DIR|--cluster] [-n NAMESPACE] [-o text|json|markdown]")
		fmt.Fprintln(stderr, "Exit codes: 0 nothing refused or Stalled, 1 something would be refused or Stalled, 2 usage or input errors.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "plan: %s\n", msg)
		fs.Usage()
		return 2
	}
	switch {
	case len(files) == 0:
		return usage("-f is required: name the files or directories to plan")
	case fs.NArg() > 0:
		return usage(fmt.Sprintf("unexpected argument %q: pass files and directories with -f", fs.Arg(0)))
	case cluster && len(base) > 0:
		return usage("--base and --cluster are exclusive: compare with a folder or with the cluster")
	}
	switch output {
	case plan.OutputText, plan.OutputJSON, plan.OutputMarkdown:
	default:
		return usage(fmt.Sprintf("unknown output %q: use text, json or markdown", output))
	}

	crdFS := plan.EmbeddedCRDs()
	if crds != "" {
		crdFS = os.DirFS(crds)
	}
	adm, err := plan.NewAdmission(crdFS)
	if err != nil {
		fmt.Fprintf(stderr, "plan: reading the CRDs: %v\n", err)
		return 2
	}
	opts := plan.Options{Files: files, Base: base, Namespace: namespace, Admission: adm, BaseName: strings.Join(base, ", ")}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if cluster {
		objs, ns, err := readCluster(ctx, kubeconfig, namespace)
		if err != nil {
			fmt.Fprintf(stderr, "plan: --cluster: %v\n", err)
			return 2
		}
		opts.Namespace, opts.BaseObjects, opts.Now = ns, objs, time.Now()
		opts.BaseName = "the cluster (namespace " + ns + ")"
	}
	rep, err := plan.Run(ctx, opts)
	if err != nil {
		var inputErrs plan.InputErrors
		if errors.As(err, &inputErrs) {
			fmt.Fprintf(stderr, "plan: %d input error(s):\n", len(inputErrs))
			for _, e := range inputErrs {
				fmt.Fprintf(stderr, "  %s\n", e)
			}
			return 2
		}
		fmt.Fprintf(stderr, "plan: %v\n", err)
		return 2
	}
	if err := plan.Write(stdout, rep, output); err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		return 2
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

// readCluster lists the five kinds in the namespace, as check-access reads them.
func readCluster(ctx context.Context, kubeconfig, namespace string) ([]unstructured.Unstructured, string, error) {
	c, namespace, err := kubeClient(kubeconfig, namespace)
	if err != nil {
		return nil, "", err
	}
	var out []unstructured.Unstructured
	for _, kind := range []string{"Environment", "SecurityRole", "Team", "PlatformUser", "ApplicationUser"} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind(kind + "List"))
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, "", fmt.Errorf("listing %ss in namespace %s: %w", kind, namespace, err)
		}
		for _, item := range list.Items {
			item.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind(kind))
			out = append(out, item)
		}
	}
	return out, namespace, nil
}
