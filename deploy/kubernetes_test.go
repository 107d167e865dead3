package deploy_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The parts of Kubernetes objects the test reads.
type (
	k8sSecurityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		RunAsUser                *int  `yaml:"runAsUser"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	}
	k8sProbe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
	}
	k8sContainer struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
		LivenessProbe   *k8sProbe           `yaml:"livenessProbe"`
		ReadinessProbe  *k8sProbe           `yaml:"readinessProbe"`
		SecurityContext *k8sSecurityContext `yaml:"securityContext"`
		Resources       struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
	}
	k8sDeployment struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					SecurityContext k8sSecurityContext `yaml:"securityContext"`
					Volumes         []struct {
						Name      string `yaml:"name"`
						ConfigMap *struct {
							Name  string `yaml:"name"`
							Items []struct{ Key, Path string }
						} `yaml:"configMap"`
					} `yaml:"volumes"`
					Containers []k8sContainer `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	k8sService struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Port       int `yaml:"port"`
				TargetPort any `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	k8sPodMonitor struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			PodMetricsEndpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"podMetricsEndpoints"`
		} `yaml:"spec"`
	}
	k8sConfigMap struct {
		Metadata struct{ Name string } `yaml:"metadata"`
		Data     map[string]string     `yaml:"data"`
	}
	k8sSecret struct {
		Metadata   struct{ Name string } `yaml:"metadata"`
		StringData map[string]string     `yaml:"stringData"`
		Data       map[string]string     `yaml:"data"`
	}
)

// TestKubernetesManifests checks deploy/kubernetes against the config its
// ConfigMap carries and against the image: ports, probes, config path,
// metrics endpoint, Service exposure, secrets and the security context.
func TestKubernetesManifests(t *testing.T) {
	img := readDockerfile(t)
	dir := "kubernetes"
	kust := yamlDocs(t, filepath.Join(dir, "kustomization.yaml"))
	if len(kust) != 1 {
		t.Fatalf("kustomization.yaml has %d documents; want 1", len(kust))
	}
	var k struct{ Resources []string }
	convert(t, kust[0], &k)
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var manifests []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			manifests = append(manifests, b)
		}
	}
	res := slices.Clone(k.Resources)
	sort.Strings(res)
	if !slices.Equal(res, manifests) {
		t.Errorf("kustomization resources %q; want every manifest in the directory: %q", res, manifests)
	}

	byKind := map[string][]map[string]any{}
	for _, f := range manifests {
		for _, d := range yamlDocs(t, filepath.Join(dir, f)) {
			kind, _ := d["kind"].(string)
			if kind == "" || d["apiVersion"] == nil {
				t.Errorf("%s: a document without kind or apiVersion", f)
			}
			byKind[kind] = append(byKind[kind], d)
		}
	}
	for _, kind := range []string{"Deployment", "Service", "ConfigMap", "Secret", "PodMonitor"} {
		if len(byKind[kind]) != 1 {
			t.Fatalf("%d %s objects; want 1", len(byKind[kind]), kind)
		}
	}
	if av := byKind["PodMonitor"][0]["apiVersion"]; av != "monitoring.coreos.com/v1" {
		t.Errorf("PodMonitor apiVersion %v; want monitoring.coreos.com/v1", av)
	}
	var (
		dep k8sDeployment
		svc k8sService
		pm  k8sPodMonitor
		cm  k8sConfigMap
		sec k8sSecret
	)
	convert(t, byKind["Deployment"][0], &dep)
	convert(t, byKind["Service"][0], &svc)
	convert(t, byKind["PodMonitor"][0], &pm)
	convert(t, byKind["ConfigMap"][0], &cm)
	convert(t, byKind["Secret"][0], &sec)
	pod := dep.Spec.Template.Spec
	labels := dep.Spec.Template.Metadata.Labels

	var gw, model *k8sContainer
	for i := range pod.Containers {
		switch c := &pod.Containers[i]; {
		case c.Image == "scopegate" || strings.Contains(c.Image, "scopegate"):
			gw = c
		default:
			model = c
		}
	}
	if gw == nil || model == nil || len(pod.Containers) != 2 {
		t.Fatalf("want a pod of two containers, scopegate and a model server; got %d", len(pod.Containers))
	}

	// The config: it loads with the environment the container gets.
	var volName, cfgKey, cfgFile string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
			volName = v.Name
			for _, it := range v.ConfigMap.Items {
				cfgKey, cfgFile = it.Key, it.Path
			}
		}
	}
	if volName == "" || cfgKey == "" {
		t.Fatalf("no volume of ConfigMap %q with an item", cm.Metadata.Name)
	}
	text, ok := cm.Data[cfgKey]
	if !ok {
		t.Fatalf("ConfigMap %q has no key %q", cm.Metadata.Name, cfgKey)
	}
	env := map[string]string{}
	for _, e := range gw.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			_, inString := sec.StringData[ref.Key]
			_, inData := sec.Data[ref.Key]
			if ref.Name != sec.Metadata.Name || !(inString || inData) {
				t.Errorf("env %s: secretKeyRef %s/%s is not in Secret %q", e.Name, ref.Name, ref.Key, sec.Metadata.Name)
			}
			env[e.Name] = "secret-value"
		default:
			env[e.Name] = e.Value
		}
	}
	for _, n := range envRefs(text) {
		if _, ok := env[n]; !ok {
			t.Errorf("the config uses ${%s} but the scopegate container has no such env var", n)
		}
	}
	if _, ok := env["MODEL_API_KEY"]; !ok {
		t.Error("the scopegate container does not get MODEL_API_KEY from the Secret")
	}
	cfg := parseConfig(t, "ConfigMap "+cm.Metadata.Name, text, env)

	// The config's path is the ENTRYPOINT's, and nothing overrides it.
	mounted := false
	for _, m := range gw.VolumeMounts {
		if m.Name == volName {
			mounted = true
			if got := filepath.Join(m.MountPath, cfgFile); got != img.configPath || m.SubPath != "" {
				t.Errorf("config mounted at %s (subPath %q); want %s, the ENTRYPOINT's --config, without subPath", got, m.SubPath, img.configPath)
			}
			if !m.ReadOnly {
				t.Error("the config volume is not mounted readOnly")
			}
		}
	}
	if !mounted {
		t.Error("the scopegate container does not mount the config volume")
	}
	if len(gw.Command) > 0 || len(gw.Args) > 0 {
		t.Errorf("the scopegate container sets command %q / args %q: the image's ENTRYPOINT should read the mounted config", gw.Command, gw.Args)
	}

	// Ports: named container ports equal the config's listeners.
	proxyPort, proxyExt := port(t, cfg.Server.Listen)
	adminPort, adminExt := port(t, cfg.Server.AdminListen)
	if !proxyExt || !adminExt {
		t.Errorf("server.listen %q and admin_listen %q must not be loopback: the Service and the kubelet reach the pod IP", cfg.Server.Listen, cfg.Server.AdminListen)
	}
	ports := map[string]int{}
	for _, p := range gw.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["proxy"] != proxyPort || ports["admin"] != adminPort || len(ports) != 2 {
		t.Errorf("container ports %v; want proxy:%d and admin:%d (server.listen, server.admin_listen)", ports, proxyPort, adminPort)
	}
	isAdmin := func(p any) bool {
		switch p := p.(type) {
		case string:
			return p == "admin" || p == strconv.Itoa(adminPort)
		case int:
			return p == adminPort
		}
		return false
	}
	for _, pr := range []struct {
		name  string
		probe *k8sProbe
		path  string
	}{{"liveness", gw.LivenessProbe, "/healthz"}, {"readiness", gw.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("no %s httpGet probe", pr.name)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path || !isAdmin(pr.probe.HTTPGet.Port) {
			t.Errorf("%s probe GET %s on port %v; want %s on the admin port", pr.name, pr.probe.HTTPGet.Path, pr.probe.HTTPGet.Port, pr.path)
		}
	}

	// The Service exposes the proxy port only, and selects this pod.
	if !selects(svc.Spec.Selector, labels) {
		t.Errorf("Service selector %v does not select the pod labels %v", svc.Spec.Selector, labels)
	}
	if len(svc.Spec.Ports) == 0 {
		t.Error("the Service has no ports")
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort != "proxy" && p.TargetPort != proxyPort {
			t.Errorf("Service port %d targets %v; want only the proxy port", p.Port, p.TargetPort)
		}
	}

	// The PodMonitor scrapes /metrics on the admin port of this pod.
	if !selects(pm.Spec.Selector.MatchLabels, labels) {
		t.Errorf("PodMonitor selector %v does not select the pod labels %v", pm.Spec.Selector.MatchLabels, labels)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port != "admin" || pm.Spec.PodMetricsEndpoints[0].Path != "/metrics" {
		t.Errorf("PodMonitor endpoints %+v; want one: port admin, path /metrics", pm.Spec.PodMetricsEndpoints)
	}
	if !selects(dep.Spec.Selector.MatchLabels, labels) {
		t.Errorf("Deployment selector %v does not select its pod labels %v", dep.Spec.Selector.MatchLabels, labels)
	}

	// The security context of the gateway container.
	sc := gw.SecurityContext
	if sc == nil {
		t.Fatal("the scopegate container has no securityContext")
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(sc.RunAsNonRoot) || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Error("securityContext: want runAsNonRoot: true and a non-zero runAsUser")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("securityContext: want readOnlyRootFilesystem: true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("securityContext: want allowPrivilegeEscalation: false")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("securityContext capabilities drop %q add %q; want drop [ALL], add none", sc.Capabilities.Drop, sc.Capabilities.Add)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" && pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("seccompProfile: want RuntimeDefault")
	}
	for _, r := range []string{"cpu", "memory"} {
		if gw.Resources.Requests[r] == "" {
			t.Errorf("resources.requests.%s is not set", r)
		}
	}
	if gw.Resources.Limits["memory"] == "" {
		t.Error("resources.limits.memory is not set")
	}

	// The model server listens on localhost only, where the upstream is.
	if len(model.Ports) > 0 {
		t.Errorf("the model container declares ports %v; it should be reachable only through the gateway", model.Ports)
	}
	args := strings.Join(model.Args, " ")
	if !strings.Contains(args, "--host 127.0.0.1") {
		t.Errorf("model server args %q do not bind it to 127.0.0.1", args)
	}
	for name, u := range cfg.Upstreams {
		if want := "http://127.0.0.1:" + flagValue(model.Args, "--port"); u.URL != want {
			t.Errorf("upstream %s is %q; want %q, the model server's --host and --port", name, u.URL, want)
		}
	}
}

// selects reports whether a label selector matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// flagValue returns the value after name in args, or "".
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestKustomizeBuild renders the kustomization with kubectl's built-in
// kustomize, when kubectl is installed, and checks the image override.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: the kustomization is checked by TestKubernetesManifests only")
	}
	out, err := exec.Command(kubectl, "kustomize", "kubernetes").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/kubernetes: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^kind: (\w+)$`).FindAllStringSubmatch(string(out), -1) {
		kinds[m[1]]++
	}
	for _, k := range []string{"ConfigMap", "Secret", "Deployment", "Service", "PodMonitor"} {
		if kinds[k] != 1 {
			t.Errorf("the rendered kustomization has %d %s; want 1", kinds[k], k)
		}
	}
	if !strings.Contains(string(out), "image: scopegate:dev") {
		t.Error("the rendered Deployment does not use the image set in kustomization.yaml (scopegate:dev)")
	}
}
