package main

import (
	"strings"
	"testing"
)

// A bundle as kustomize renders config/default, cut to one object of each kind the generator
// treats differently.
const bundle = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  labels:
    app.kubernetes.io/managed-by: kustomize
    app.kubernetes.io/name: dataverse-access-operator
  name: teams.access.accessplane.io
spec:
  group: access.accessplane.io
---
apiVersion: v1
kind: Namespace
metadata:
  labels:
    pod-security.kubernetes.io/enforce: restricted
  name: dataverse-access-operator-system
---
apiVersion: v1
kind: ServiceAccount
metadata:
  labels:
    app.kubernetes.io/managed-by: kustomize
    app.kubernetes.io/name: dataverse-access-operator
  name: dataverse-access-operator-controller-manager
  namespace: dataverse-access-operator-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: dataverse-access-operator-manager-rolebinding
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: dataverse-access-operator-manager-role
subjects:
- kind: ServiceAccount
  name: dataverse-access-operator-controller-manager
  namespace: dataverse-access-operator-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    control-plane: controller-manager
  name: dataverse-access-operator-controller-manager
  namespace: dataverse-access-operator-system
spec:
  replicas: 2
  selector:
    matchLabels:
      control-plane: controller-manager
  template:
    metadata:
      labels:
        control-plane: controller-manager
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
      - name: manager
        image: dataverse-access-operator:dev
        args:
        - --leader-elect=true
        - --metrics-bind-address=:8443
        - --health-probe-bind-address=:8081
        resources:
          limits:
            memory: 512Mi
        securityContext:
          readOnlyRootFilesystem: true
`

func render(t *testing.T) map[string]string {
	t.Helper()
	objs, err := splitYAML([]byte(bundle))
	if err != nil {
		t.Fatal(err)
	}
	files, err := Render(objs)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestRender(t *testing.T) {
	files := render(t)
	for name, text := range files {
		if strings.Contains(text, "__HELM_") {
			t.Errorf("%s keeps a placeholder:\n%s", name, text)
		}
		if strings.Contains(text, "dataverse-access-operator-system") {
			t.Errorf("%s names kustomize's namespace instead of the release's", name)
		}
	}
	for name := range files {
		if strings.Contains(name, "namespace-") {
			t.Errorf("the Namespace is rendered (%s): the chart installs into the release's namespace", name)
		}
	}

	crd := files["crds/teams.access.accessplane.io.yaml"]
	if crd == "" || strings.Contains(crd, "managed-by") || strings.Contains(crd, "{{") {
		t.Errorf("crds/ holds the CRD verbatim, without kustomize's managed-by label and without templates:\n%s", crd)
	}

	binding := files["templates/clusterrolebinding-manager-rolebinding.yaml"]
	for _, want := range []string{
		`  name: {{ include "dataverse-access-operator.fullname" . }}-manager-role`,
		`- kind: ServiceAccount
  name: {{ include "dataverse-access-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}`,
	} {
		if !strings.Contains(binding, want) {
			t.Errorf("the binding lacks\n%s\nin\n%s", want, binding)
		}
	}

	d := files["templates/deployment-controller-manager.yaml"]
	for _, want := range []string{
		"  replicas: {{ .Values.replicaCount }}",
		"        - --leader-elect={{ .Values.leaderElection.enabled }}",
		"        - --metrics-bind-address={{ if .Values.metrics.enabled }}:8443{{ else }}0{{ end }}",
		"        - --health-probe-bind-address=:8081", // a flag the chart does not set stays as config/ has it
		"        {{- with .Values.kubeAPI.qps }}\n        - --kube-api-qps={{ . }}\n        {{- end }}",
		"          {{- toYaml .Values.resources | nindent 10 }}",
		"        {{- toYaml .Values.podSecurityContext | nindent 8 }}",
		"      {{- with .Values.nodeSelector }}\n      nodeSelector:\n        {{- toYaml . | nindent 8 }}\n      {{- end }}",
		`        image: {{ include "dataverse-access-operator.image" . }}`,
		`      {{- include "dataverse-access-operator.selectorLabels" . | nindent 6 }}` + "\n      control-plane: \"controller-manager\"",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("the Deployment lacks\n%s\nin\n%s", want, d)
		}
	}

	values := files["values.yaml"]
	for _, want := range []string{"replicaCount: 2\n", "  enabled: true\n", "podSecurityContext:\n  runAsNonRoot: true\n",
		"resources:\n  limits:\n    memory: 512Mi\n", "securityContext:\n  readOnlyRootFilesystem: true\n"} {
		if !strings.Contains(values, want) {
			t.Errorf("values.yaml lacks the default %q from config/:\n%s", want, values)
		}
	}
}

// config/ growing a volume must stop the generator with a message, not lose the volume.
func TestRenderRefusesWhatItWouldDrop(t *testing.T) {
	objs, err := splitYAML([]byte(strings.Replace(bundle, "      containers:\n", "      volumes:\n      - name: x\n        emptyDir: {}\n      containers:\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(objs); err == nil || !strings.Contains(err.Error(), "volumes") {
		t.Fatalf("want an error naming volumes, got %v", err)
	}
}
