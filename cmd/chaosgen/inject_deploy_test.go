package main

import (
	"net"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/inject"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// manifests are the objects of deploy/kubernetes, decoded strictly.
type manifests struct {
	deployments []appsv1.Deployment
	services    []corev1.Service
	configMaps  map[string]corev1.ConfigMap
}

// readManifests decodes every document of deploy/kubernetes/*.yaml into
// its Kubernetes API type, refusing unknown fields.
func readManifests(t *testing.T) manifests {
	t.Helper()
	m := manifests{configMaps: map[string]corev1.ConfigMap{}}
	eachManifest(t, filepath.Join("..", "..", "deploy", "kubernetes"), func(kind string, strict func(v any)) {
		switch kind {
		case "apps/v1 Deployment":
			var d appsv1.Deployment
			strict(&d)
			m.deployments = append(m.deployments, d)
		case "v1 Service":
			var s corev1.Service
			strict(&s)
			m.services = append(m.services, s)
		case "v1 ConfigMap":
			var c corev1.ConfigMap
			strict(&c)
			m.configMaps[c.Name] = c
		default:
			strict(nil)
		}
	})
	return m
}

// TestKubernetesManifests: deploy/kubernetes decodes strictly into the
// Kubernetes API types, runs chaosgen inject as a native sidecar, and its
// args, ports, probes, Service and volumes agree with the flags `chaosgen
// inject` has.
func TestKubernetesManifests(t *testing.T) {
	m := readManifests(t)
	if len(m.deployments) == 0 {
		t.Fatal("no Deployment")
	}
	for _, d := range m.deployments {
		t.Run(d.Name, func(t *testing.T) { checkSidecar(t, m, d) })
	}
}

func checkSidecar(t *testing.T, m manifests, d appsv1.Deployment) {
	spec := d.Spec.Template.Spec
	var sc *corev1.Container
	for i := range spec.InitContainers {
		if c := &spec.InitContainers[i]; len(c.Args) > 0 && c.Args[0] == "inject" {
			sc = c
		}
	}
	for _, c := range spec.Containers {
		if len(c.Args) > 0 && c.Args[0] == "inject" {
			t.Errorf("container %s runs inject as an ordinary container, not a native sidecar", c.Name)
		}
	}
	if sc == nil {
		t.Fatal("no init container runs chaosgen inject")
	}
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Error("the sidecar is not a native sidecar (restartPolicy: Always)")
	}

	// the args parse with the binary's own flags
	cmd := newInjectCmd()
	if err := cmd.ParseFlags(sc.Args[1:]); err != nil {
		t.Fatalf("args %q: %v", sc.Args[1:], err)
	}
	if rest := cmd.Flags().Args(); len(rest) != 0 {
		t.Errorf("args the command does not take: %q", rest)
	}
	flag := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	for _, name := range []string{"bundle", "upstream", "service", "admin-token-file", "kill-file"} {
		if flag(name) == "" {
			t.Errorf("--%s is not set", name)
		}
	}
	if flag("pub") == "" && flag("allowed-signers") == "" {
		t.Error("neither --pub nor --allowed-signers is set")
	}

	// ports: the proxy's and the admin API's (where the probes are)
	ports := map[string]int32{}
	for _, p := range sc.Ports {
		ports[p.Name] = p.ContainerPort
	}
	portOf := func(what, addr string) int32 {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s %q: %v", what, addr, err)
		}
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			t.Errorf("%s %q listens on loopback: unreachable for the kubelet and the Service", what, addr)
		}
		n, _ := strconv.Atoi(port)
		return int32(n)
	}
	listen, admin := portOf("--listen", flag("listen")), portOf("--admin", flag("admin"))
	named := func(p intstr.IntOrString) int32 {
		if p.Type == intstr.Int {
			return p.IntVal
		}
		n, ok := ports[p.StrVal]
		if !ok {
			t.Errorf("port name %q is not a port of the sidecar", p.StrVal)
		}
		return n
	}
	if !slices.Contains(mapsValues(ports), listen) {
		t.Errorf("--listen port %d is not a containerPort of the sidecar %v", listen, ports)
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startupProbe", sc.StartupProbe, inject.ReadyPath}, {"readinessProbe", sc.ReadinessProbe, inject.ReadyPath}, {"livenessProbe", sc.LivenessProbe, inject.HealthPath}}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s path %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := named(p.probe.HTTPGet.Port); got != admin {
			t.Errorf("%s port %d, want the --admin port %d", p.name, got, admin)
		}
	}
	if sc.Resources.Requests.Cpu().IsZero() || sc.Resources.Requests.Memory().IsZero() || sc.Resources.Limits.Memory().IsZero() {
		t.Errorf("the sidecar's resources lack requests or a memory limit: %+v", sc.Resources)
	}

	// the Service sends its traffic to the sidecar, not the app
	served := false
	for _, s := range m.services {
		if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
			continue
		}
		served = true
		for _, p := range s.Spec.Ports {
			if got := named(p.TargetPort); got != listen {
				t.Errorf("Service %s port %s targets %d, not the proxy's --listen port %d", s.Name, p.Name, got, listen)
			}
		}
	}
	if !served {
		t.Error("no Service selects the pods")
	}

	// --upstream is the app container's port
	appPorts := []int32{}
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			appPorts = append(appPorts, p.ContainerPort)
		}
	}
	if _, port, _ := net.SplitHostPort(strings.TrimPrefix(flag("upstream"), "http://")); !slices.Contains(appPorts, int32(atoi(port))) {
		t.Errorf("--upstream port %s is no app container's port %v", port, appPorts)
	}

	// every file a flag names is a key of a mounted volume
	sig := flag("sig")
	if sig == "" {
		sig = flag("bundle") + ".sig"
	}
	files := map[string]string{"bundle": flag("bundle"), "sig": sig, "admin-token-file": flag("admin-token-file"), "kill-file": flag("kill-file")}
	if flag("pub") != "" {
		files["pub"] = flag("pub")
	} else {
		files["allowed-signers"] = flag("allowed-signers")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for name, file := range files {
		var mount *corev1.VolumeMount
		for i := range sc.VolumeMounts {
			if vm := &sc.VolumeMounts[i]; vm.MountPath == path.Dir(file) {
				mount = vm
			}
		}
		if mount == nil {
			t.Errorf("--%s %s: no volume is mounted at %s", name, file, path.Dir(file))
			continue
		}
		if mount.SubPath != "" {
			t.Errorf("--%s: mounted with subPath, which never sees updates", name)
		}
		v, ok := volumes[mount.Name]
		if !ok {
			t.Errorf("--%s: no volume %q", name, mount.Name)
			continue
		}
		var items []corev1.KeyToPath
		var cm string
		switch {
		case v.ConfigMap != nil:
			items, cm = v.ConfigMap.Items, v.ConfigMap.Name
		case v.Secret != nil:
			items = v.Secret.Items
		default:
			t.Errorf("--%s: volume %s is neither a ConfigMap nor a Secret", name, v.Name)
			continue
		}
		key := path.Base(file)
		if len(items) > 0 {
			key = ""
			for _, it := range items {
				if it.Path == path.Base(file) {
					key = it.Key
				}
			}
			if key == "" {
				t.Errorf("--%s %s: volume %s has no item at %s", name, file, v.Name, path.Base(file))
				continue
			}
		}
		if c, ok := m.configMaps[cm]; ok {
			_, inData := c.Data[key]
			_, inBinary := c.BinaryData[key]
			if !inData && !inBinary {
				t.Errorf("--%s: ConfigMap %s has no key %q", name, cm, key)
			}
		}
		if name == "kill-file" && v.ConfigMap == nil {
			t.Error("--kill-file is not a ConfigMap key: it cannot be flipped fleet-wide")
		}
	}
}

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

func mapsValues(m map[string]int32) []int32 {
	var out []int32
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
