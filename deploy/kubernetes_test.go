package deploy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tokenrotator/tokenrotator/internal/config"
)

// object is one Kubernetes manifest, decoded into maps.
type object map[string]any

// get walks a path of map keys and returns the value, or nil.
func (o object) get(path ...string) any {
	var current any = map[string]any(o)
	for _, key := range path {
		m, ok := current.(map[string]any)
		if !ok {
			return nil
		}
		current = m[key]
	}
	return current
}

func (o object) str(path ...string) string {
	s, _ := o.get(path...).(string)
	return s
}

func (o object) list(path ...string) []object {
	items, _ := o.get(path...).([]any)
	var objects []object
	for _, item := range items {
		if m, ok := item.(map[string]any); ok {
			objects = append(objects, object(m))
		}
	}
	return objects
}

// loadManifests parses every YAML document in deploy/kubernetes.
func loadManifests(t *testing.T) map[string]object {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	byKind := map[string]object{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		decoder := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			err := decoder.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("parse %s: %v", filepath.Base(file), err)
			}
			o := object(doc)
			if o.str("apiVersion") == "" || o.str("kind") == "" {
				t.Errorf("%s: a document lacks apiVersion or kind", filepath.Base(file))
				continue
			}
			byKind[o.str("kind")] = o
		}
	}
	return byKind
}

func TestKubernetesManifestKinds(t *testing.T) {
	manifests := loadManifests(t)

	for _, kind := range []string{"Deployment", "ServiceAccount", "ConfigMap",
		"Service", "ServiceMonitor", "Kustomization"} {
		if _, ok := manifests[kind]; !ok {
			t.Errorf("no %s manifest", kind)
		}
	}
	// kubectl apply -k would replace the real Secret with a committed one.
	if _, ok := manifests["Secret"]; ok {
		t.Error("deploy/kubernetes has a Secret manifest; the kustomization generates it " +
			"from the git-ignored file management-token")
	}
	kustomization := manifests["Kustomization"]
	for _, resource := range kustomization.get("resources").([]any) {
		path := filepath.Join(repoRoot(t), "deploy", "kubernetes", resource.(string))
		if _, err := os.Stat(path); err != nil {
			t.Errorf("kustomization lists %s: %v", resource, err)
		}
	}
}

func TestKubernetesDeployment(t *testing.T) {
	manifests := loadManifests(t)
	deployment := manifests["Deployment"]
	pod := object(deployment.get("spec", "template", "spec").(map[string]any))

	if got := deployment.get("spec", "replicas"); got != 1 {
		t.Errorf("replicas = %v, want 1: one tokenrotator may manage a token at a time", got)
	}
	if got := deployment.str("spec", "strategy", "type"); got != "Recreate" {
		t.Errorf("strategy = %q, want Recreate, so two pods never rotate at once", got)
	}
	if got := pod.str("serviceAccountName"); got != manifests["ServiceAccount"].str("metadata", "name") {
		t.Errorf("serviceAccountName = %q, want the ServiceAccount's name", got)
	}
	if pod.get("securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if got := pod.str("securityContext", "seccompProfile", "type"); got != "RuntimeDefault" {
		t.Errorf("pod seccompProfile = %q, want RuntimeDefault", got)
	}
	annotations := object(deployment.get("spec", "template", "metadata", "annotations").(map[string]any))
	if annotations.str("prometheus.io/scrape") != "true" || annotations.str("prometheus.io/port") != "9464" {
		t.Errorf("scrape annotations = %v, want scrape true on port 9464", annotations)
	}

	var sidecar object
	for _, c := range pod.list("initContainers") {
		if c.str("name") == "tokenrotator" {
			sidecar = c
		}
	}
	if sidecar == nil {
		t.Fatal("no tokenrotator init container (native sidecar)")
	}
	if got := sidecar.str("restartPolicy"); got != "Always" {
		t.Errorf("sidecar restartPolicy = %q, want Always", got)
	}
	probes := map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz",
		"startupProbe": "/readyz"}
	for probe, path := range probes {
		if got := sidecar.str(probe, "httpGet", "path"); got != path {
			t.Errorf("sidecar %s path = %q, want %s", probe, got, path)
		}
	}

	volumes := map[string]object{}
	for _, v := range pod.list("volumes") {
		volumes[v.str("name")] = v
	}
	containers := append(pod.list("initContainers"), pod.list("containers")...)
	for _, c := range containers {
		checkContainer(t, c, volumes)
	}

	if volumes["state"].get("emptyDir") == nil {
		t.Error("volume state is not an emptyDir")
	}
	if volumes["app-secrets"].str("emptyDir", "medium") != "Memory" {
		t.Error("volume app-secrets is not a memory-backed emptyDir")
	}
	if got := volumes["config"].str("configMap", "name"); got != manifests["ConfigMap"].str("metadata", "name") {
		t.Errorf("volume config uses ConfigMap %q, want the ConfigMap manifest's name", got)
	}
	generated := managementTokenGenerator(t, manifests["Kustomization"])
	if got := volumes["management-token"].str("secret", "secretName"); got != generated.str("name") {
		t.Errorf("volume management-token uses Secret %q, want the generated Secret %q",
			got, generated.str("name"))
	}
	mountedAt := map[string]string{}
	for _, m := range sidecar.list("volumeMounts") {
		mountedAt[m.str("name")] = m.str("mountPath")
	}
	if mountedAt["state"] != "/var/lib/tokenrotator" {
		t.Errorf("sidecar mounts state at %q, want /var/lib/tokenrotator", mountedAt["state"])
	}
}

// checkContainer checks one container's securityContext, resources and mounts.
func checkContainer(t *testing.T, c object, volumes map[string]object) {
	t.Helper()
	name := c.str("name")
	sc := object(c.get("securityContext").(map[string]any))
	if sc.get("allowPrivilegeEscalation") != false {
		t.Errorf("%s: allowPrivilegeEscalation is not false", name)
	}
	if sc.get("readOnlyRootFilesystem") != true {
		t.Errorf("%s: readOnlyRootFilesystem is not true", name)
	}
	if sc.get("runAsNonRoot") != true {
		t.Errorf("%s: runAsNonRoot is not true", name)
	}
	drop, _ := sc.get("capabilities", "drop").([]any)
	if !slices.Contains(drop, any("ALL")) {
		t.Errorf("%s: capabilities.drop = %v, want ALL", name, drop)
	}
	if got := sc.str("seccompProfile", "type"); got != "RuntimeDefault" {
		t.Errorf("%s: seccompProfile = %q, want RuntimeDefault", name, got)
	}
	for _, kind := range []string{"requests", "limits"} {
		for _, resource := range []string{"cpu", "memory"} {
			if c.str("resources", kind, resource) == "" {
				t.Errorf("%s: resources.%s.%s is not set", name, kind, resource)
			}
		}
	}
	for _, m := range c.list("volumeMounts") {
		if _, ok := volumes[m.str("name")]; !ok {
			t.Errorf("%s: mounts undefined volume %q", name, m.str("name"))
		}
	}
}

func TestKubernetesPolicyLoads(t *testing.T) {
	policy := loadManifests(t)["ConfigMap"].str("data", "config.yaml")
	if policy == "" {
		t.Fatal("ConfigMap has no config.yaml")
	}

	cfg, err := config.Load("configmap config.yaml", []byte(policy))
	if err != nil {
		t.Fatalf("the ConfigMap's policy does not load:\n%v", err)
	}

	if cfg.Listen != "0.0.0.0:9464" {
		t.Errorf("listen = %q, want 0.0.0.0:9464 so that probes reach the pod", cfg.Listen)
	}
	if !strings.HasPrefix(cfg.StateDir, "/var/lib/tokenrotator") {
		t.Errorf("state_dir = %q, want the mounted state volume", cfg.StateDir)
	}
}

// managementTokenGenerator returns the kustomization's only secretGenerator
// entry.
func managementTokenGenerator(t *testing.T, kustomization object) object {
	t.Helper()
	generators := kustomization.list("secretGenerator")
	if len(generators) != 1 {
		t.Fatalf("kustomization has %d secretGenerator entries, want 1 for the management token",
			len(generators))
	}
	return generators[0]
}

// TestKubernetesManagementTokenSecret checks that the management token
// Secret is generated from a git-ignored local file. The policy must read
// the file that this Secret's key becomes in the Deployment's mount.
func TestKubernetesManagementTokenSecret(t *testing.T) {
	manifests := loadManifests(t)
	generator := managementTokenGenerator(t, manifests["Kustomization"])

	files, _ := generator.get("files").([]any)
	if len(files) != 1 {
		t.Fatalf("secretGenerator files = %v, want one KEY=FILE entry", files)
	}
	key, source, ok := strings.Cut(files[0].(string), "=")
	if !ok {
		t.Fatalf("secretGenerator file %q is not KEY=FILE", files[0])
	}
	if strings.Contains(source, "/") {
		t.Errorf("secretGenerator reads %q, want a file next to kustomization.yaml", source)
	}
	ignored := strings.Split(string(readFile(t, "deploy/kubernetes/.gitignore")), "\n")
	if !slices.Contains(ignored, "/"+source) {
		t.Errorf("deploy/kubernetes/.gitignore does not list /%s, so the token could be committed",
			source)
	}

	var sidecar object
	for _, c := range object(manifests["Deployment"].get("spec", "template", "spec").(map[string]any)).list("initContainers") {
		if c.str("name") == "tokenrotator" {
			sidecar = c
		}
	}
	var mountPath string
	for _, m := range sidecar.list("volumeMounts") {
		if m.str("name") == "management-token" {
			mountPath = m.str("mountPath")
		}
	}
	cfg, err := config.Load("configmap config.yaml", []byte(manifests["ConfigMap"].str("data", "config.yaml")))
	if err != nil {
		t.Fatalf("the ConfigMap's policy does not load:\n%v", err)
	}
	want := filepath.Join(mountPath, key)
	for _, account := range cfg.Accounts {
		ref := account.APIToken
		if ref.Source != config.SecretFromFile || ref.Name != want {
			t.Errorf("account %s reads its management token from %s, want the file %s of "+
				"the generated Secret", account.Name, ref, want)
		}
	}
}

// TestKubectlKustomize builds the kustomization with kubectl. Without the
// token file the build must fail, so an apply never sends a placeholder.
// With it, the Deployment must mount the generated Secret.
func TestKubectlKustomize(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skipf("kubectl not found, so the kustomization is not built: %v", err)
	}
	// Copy only the manifests, never a real token file in the checkout.
	dir := t.TempDir()
	manifests, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, manifest := range manifests {
		data, err := os.ReadFile(manifest)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(manifest)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const source = "management-token"

	cmd := exec.CommandContext(t.Context(), kubectl, "kustomize", dir)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("kubectl kustomize succeeded without the file %s:\n%s", source, out)
	}

	const token = "test-management-token-value"
	if err := os.WriteFile(filepath.Join(dir, source), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	decoder := yaml.NewDecoder(strings.NewReader(run(t, dir, kubectl, "kustomize", dir)))
	var secretName, mounted, data string
	for {
		var doc map[string]any
		err := decoder.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("parse kubectl kustomize output: %v", err)
		}
		built := object(doc)
		switch built.str("kind") {
		case "Secret":
			secretName = built.str("metadata", "name")
			data = built.str("data", "cloudflare-management-token")
		case "Deployment":
			for _, v := range object(built.get("spec", "template", "spec").(map[string]any)).list("volumes") {
				if v.str("name") == "management-token" {
					mounted = v.str("secret", "secretName")
				}
			}
		}
	}

	if !strings.HasPrefix(secretName, "tokenrotator-management-token-") {
		t.Errorf("generated Secret name = %q, want tokenrotator-management-token-HASH", secretName)
	}
	if mounted != secretName {
		t.Errorf("Deployment mounts Secret %q, want the generated %q", mounted, secretName)
	}
	if want := base64.StdEncoding.EncodeToString([]byte(token + "\n")); data != want {
		t.Errorf("Secret data cloudflare-management-token = %q, want the file's content %q",
			data, want)
	}
}
