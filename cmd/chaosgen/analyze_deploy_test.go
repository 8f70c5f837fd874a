package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chaosgen/chaosgen/synth"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// analyzeManifests are the Jobs of deploy/kubernetes/analyze, decoded
// strictly.
type analyzeManifests struct {
	cron          batchv1.CronJob
	shards, merge batchv1.Job
}

// eachManifest calls fn with every document of dir/*.yaml: its
// "apiVersion kind" and a function that decodes it strictly (unknown
// fields are errors) into an API type.
func eachManifest(t *testing.T, dir string, fn func(kind string, strict func(v any))) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: document %d: %v", f, i+1, err)
			}
			kind := meta.APIVersion + " " + meta.Kind
			fn(kind, func(v any) {
				t.Helper()
				if v == nil {
					t.Fatalf("%s: document %d: unexpected %s", f, i+1, kind)
				}
				if err := yaml.UnmarshalStrict(doc, v); err != nil {
					t.Fatalf("%s: document %d (%s): %v", f, i+1, meta.Kind, err)
				}
			})
		}
	}
}

func readAnalyzeManifests(t *testing.T) analyzeManifests {
	t.Helper()
	var m analyzeManifests
	var crons, jobs int
	eachManifest(t, filepath.Join("..", "..", "deploy", "kubernetes", "analyze"), func(kind string, strict func(v any)) {
		switch kind {
		case "batch/v1 CronJob":
			strict(&m.cron)
			crons++
		case "batch/v1 Job":
			var j batchv1.Job
			strict(&j)
			jobs++
			if j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion {
				m.shards = j
			} else {
				m.merge = j
			}
		default:
			strict(nil)
		}
	})
	if crons != 1 || jobs != 2 || m.shards.Name == "" || m.merge.Name == "" {
		t.Fatalf("%d CronJobs and %d Jobs (an Indexed one: %q, another: %q): want one CronJob, one Indexed Job and one merge Job",
			crons, jobs, m.shards.Name, m.merge.Name)
	}
	return m
}

// container returns the pod's only container, checking what every
// chaosgen pod of these Jobs needs.
func jobContainer(t *testing.T, name string, pod *corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", name, len(pod.Containers))
	}
	c := pod.Containers[0]
	if !strings.HasPrefix(c.Image, "chaosgen:") {
		t.Errorf("%s: image %s", name, c.Image)
	}
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy %s, want Never (the Job retries the pod)", name, pod.RestartPolicy)
	}
	vols := map[string]bool{}
	for _, v := range pod.Volumes {
		vols[v.Name] = true
	}
	for _, vm := range c.VolumeMounts {
		if !vols[vm.Name] {
			t.Errorf("%s: mounts volume %s, which the pod does not declare", name, vm.Name)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: no CPU request or memory limit", name)
	}
	return c
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// podArgs returns a container's args as the kubelet runs them in pod
// index: $(VAR) expanded from the container's env (the completion index
// from the Job's annotation), and paths under the volume's mount made
// relative (the processes run in a directory standing for the volume).
func podArgs(t *testing.T, c corev1.Container, index int) []string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']":
			env[e.Name] = strconv.Itoa(index)
		default:
			t.Fatalf("env %s: a source this test cannot provide", e.Name)
		}
	}
	var mount string
	for _, vm := range c.VolumeMounts {
		mount = vm.MountPath
	}
	args := slices.Clone(c.Args)
	for i, a := range args {
		a = varRef.ReplaceAllStringFunc(a, func(ref string) string {
			v, ok := env[ref[2:len(ref)-1]]
			if !ok {
				t.Fatalf("arg %q: %s is not in the container's env", c.Args[i], ref)
			}
			return v
		})
		if mount != "" && a == mount {
			a = "."
		} else if mount != "" && strings.HasPrefix(a, mount+"/") {
			a = a[len(mount)+1:]
		}
		args[i] = a
	}
	return args
}

// TestAnalyzeManifests: deploy/kubernetes/analyze decodes strictly into
// the Kubernetes API types; its Indexed Job takes the shard from the
// completion index, with as many shards as completions; and its commands,
// run here as processes (the shards at once, then the merge), write the
// analysis that the CronJob's single-node command writes, byte for byte.
func TestAnalyzeManifests(t *testing.T) {
	m := readAnalyzeManifests(t)
	if f := strings.Fields(m.cron.Spec.Schedule); len(f) != 5 {
		t.Errorf("CronJob schedule %q: want five fields", m.cron.Spec.Schedule)
	}
	if m.cron.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob concurrencyPolicy %s: two nights must not write one analysis at once", m.cron.Spec.ConcurrencyPolicy)
	}
	cron := jobContainer(t, "CronJob", &m.cron.Spec.JobTemplate.Spec.Template.Spec)
	shard := jobContainer(t, "Indexed Job", &m.shards.Spec.Template.Spec)
	merge := jobContainer(t, "merge Job", &m.merge.Spec.Template.Spec)

	n := int(*m.shards.Spec.Completions)
	if p := m.shards.Spec.Parallelism; p == nil || int(*p) > n {
		t.Errorf("Indexed Job parallelism %v: want at most %d", p, n)
	}
	joined := strings.Join(shard.Args, " ")
	if want := fmt.Sprintf("--shard=$(JOB_COMPLETION_INDEX)/%d", n); !strings.Contains(joined, want) {
		t.Errorf("Indexed Job args %q: want %s (completions %d)", joined, want, n)
	}
	if shard.Args[0] != "analyze" || !slices.Contains(shard.Args, "--partial") || merge.Args[0] != "merge" || cron.Args[0] != "analyze" {
		t.Errorf("commands %q, %q, %q: want analyze --partial, merge, analyze", shard.Args, merge.Args, cron.Args)
	}

	if testing.Short() {
		t.Skip("SKIPPED: builds chaosgen and runs the Jobs' commands as processes (-short)")
	}
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	// two span files of different writers, the synth one in small row groups
	// so that every shard has some
	for _, root := range []string{filepath.Join(tmp, "cluster"), filepath.Join(tmp, "node")} {
		spans := filepath.Join(root, "spans")
		if _, err := synth.Generate(context.Background(), filepath.Join(spans, "day.parquet"),
			synth.Options{Days: 0.02, RPS: 4, Services: 10, Seed: 3, RowGroupRows: 1000}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("..", "..", "analysis", "testdata", "synth-seed7-duckdb.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(spans, "duckdb.parquet"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runPod := func(dir string, args []string) error {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("chaosgen %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	cluster := filepath.Join(tmp, "cluster")
	if err := os.MkdirAll(filepath.Join(cluster, "parts"), 0o755); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		args := podArgs(t, shard, i)
		wg.Go(func() { errs[i] = runPod(cluster, args) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	parts, _ := filepath.Glob(filepath.Join(cluster, "parts", "*.part"))
	if len(parts) != n {
		t.Fatalf("%d partials, want %d: %v", len(parts), n, parts)
	}
	if err := runPod(cluster, podArgs(t, merge, 0)); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(tmp, "node")
	if err := runPod(node, podArgs(t, cron, 0)); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob(filepath.Join(node, "analysis", "*"))
	if len(want) < 5 {
		t.Fatalf("the CronJob's analysis holds %v", want)
	}
	for _, w := range want {
		got := filepath.Join(cluster, "analysis", filepath.Base(w))
		if !bytes.Equal(readFile(t, w), readFile(t, got)) {
			t.Errorf("%s differs between the sharded Jobs and the CronJob", filepath.Base(w))
		}
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
