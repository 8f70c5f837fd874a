package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chaosgen/chaosgen/internal/s3test"
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

// podEnv returns a container's environment as the kubelet sets it in pod
// index: literal values, the completion index from the Job's annotation,
// and keys of the Secrets in secrets (a missing key is an error unless the
// reference is optional).
func podEnv(t *testing.T, c corev1.Container, index int, secrets map[string]map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']":
			env[e.Name] = strconv.Itoa(index)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Name][ref.Key]
			if ok {
				env[e.Name] = v
			} else if ref.Optional == nil || !*ref.Optional {
				t.Fatalf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
			}
		default:
			t.Fatalf("env %s: a source this test cannot provide", e.Name)
		}
	}
	return env
}

// podArgs returns a container's args as the kubelet runs them: $(VAR)
// expanded from env (podEnv), and paths under the data volume's mount
// made relative (the processes run in a directory standing for it).
func podArgs(t *testing.T, c corev1.Container, env map[string]string) []string {
	t.Helper()
	var mount string
	for _, vm := range c.VolumeMounts {
		if vm.Name == "data" {
			mount = vm.MountPath
		}
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

// objectPath is where the server's posix backend keeps the object or
// prefix an s3:// URL names.
func objectPath(t *testing.T, srv *s3test.Server, raw string) string {
	t.Helper()
	bucket, key, ok := strings.Cut(strings.TrimPrefix(raw, "s3://"), "/")
	if !ok || !strings.HasPrefix(raw, "s3://") || strings.Contains(raw, "?") {
		t.Fatalf("%q: want s3://BUCKET/KEY", raw)
	}
	return filepath.Join(srv.Root, bucket, filepath.FromSlash(key))
}

// checkTmp checks that a pod whose root file system is read-only has a
// writable /tmp: chaosgen writes an object there before its upload.
func checkTmp(t *testing.T, name string, pod *corev1.PodSpec, c corev1.Container) {
	t.Helper()
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		return
	}
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if vm.MountPath == "/tmp" && v.Name == vm.Name && v.EmptyDir != nil {
				return
			}
		}
	}
	t.Errorf("%s: read-only root file system and no emptyDir at /tmp, where uploads are written first", name)
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

	checkTmp(t, "Indexed Job", &m.shards.Spec.Template.Spec, shard)
	checkTmp(t, "merge Job", &m.merge.Spec.Template.Spec, merge)

	if testing.Short() {
		t.Skip("SKIPPED: builds chaosgen and runs the Jobs' commands as processes (-short)")
	}
	// the bucket is a real S3-compatible server; the pods' Secret holds its
	// account and endpoint
	srv := s3test.Start(t)
	secrets := map[string]map[string]string{"chaosgen-s3": {
		"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
		"AWS_REGION": s3test.Region, "AWS_ENDPOINT_URL_S3": srv.Endpoint,
	}}
	// where the manifests put things: the shards' input prefix, the
	// partials' prefix (the merge's input) and the analysis
	shardArgs := podArgs(t, shard, podEnv(t, shard, 0, secrets))
	mergeArgs := podArgs(t, merge, podEnv(t, merge, 0, secrets))
	spansURL, partsURL, outURL := shardArgs[len(shardArgs)-3], mergeArgs[1], mergeArgs[len(mergeArgs)-1]
	for _, u := range []string{spansURL, partsURL, outURL} {
		if !strings.HasPrefix(u, "s3://") || !strings.HasSuffix(u, "/") {
			t.Fatalf("shard args %q, merge args %q: want the inputs, the partials and the analysis as s3:// prefixes", shardArgs, mergeArgs)
		}
	}
	if out := shardArgs[len(shardArgs)-1]; !strings.HasPrefix(out, partsURL) {
		t.Errorf("the shards write %s, the merge reads %s", out, partsURL)
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(spansURL, "s3://"), "/")
	srv.MakeBucket(t, bucket)

	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	// two span files of different writers, the synth one in small row groups
	// so that every shard has some: in the bucket for the Jobs, on the
	// volume for the CronJob
	node := filepath.Join(tmp, "node")
	spans := filepath.Join(node, "spans")
	if _, err := synth.Generate(context.Background(), filepath.Join(spans, "day.parquet"),
		synth.Options{Days: 0.02, RPS: 4, Services: 10, Seed: 3, RowGroupRows: 1000}); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join("..", "..", "analysis", "testdata", "synth-seed7-duckdb.parquet"), filepath.Join(spans, "duckdb.parquet"))
	spansKey := strings.TrimPrefix(spansURL, "s3://"+bucket+"/")
	for _, f := range []string{"day.parquet", "duckdb.parquet"} {
		srv.Put(t, bucket, spansKey+f, filepath.Join(spans, f))
	}
	// a pod's process: its env only (no AWS variables of the test's own),
	// one core, a /tmp of its own standing for the emptyDir
	runPod := func(dir string, c corev1.Container, index int) error {
		env := podEnv(t, c, index, secrets)
		args := podArgs(t, c, env)
		podTmp, err := os.MkdirTemp(tmp, "pod-tmp-")
		if err != nil {
			return err
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "AWS_") && k != "AWS_CONFIG_FILE" && k != "AWS_SHARED_CREDENTIALS_FILE" || k == "TMPDIR" {
				continue
			}
			cmd.Env = append(cmd.Env, kv)
		}
		for _, k := range slices.Sorted(maps.Keys(env)) {
			cmd.Env = append(cmd.Env, k+"="+env[k])
		}
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1", "TMPDIR="+podTmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("chaosgen %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if left, _ := os.ReadDir(podTmp); len(left) > 0 {
			return fmt.Errorf("chaosgen %s left %d files in its /tmp", strings.Join(args, " "), len(left))
		}
		return nil
	}
	cluster := filepath.Join(tmp, "cluster")
	if err := os.MkdirAll(cluster, 0o755); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = runPod(cluster, shard, i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	parts, _ := filepath.Glob(filepath.Join(objectPath(t, srv, partsURL), "*.part"))
	if len(parts) != n {
		t.Fatalf("%d partials under %s, want %d: %v", len(parts), partsURL, n, parts)
	}
	if err := runPod(cluster, merge, 0); err != nil {
		t.Fatal(err)
	}
	if err := runPod(node, cron, 0); err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.Glob(filepath.Join(node, "analysis", "*")); len(want) < 5 {
		t.Fatalf("the CronJob's analysis holds %v", want)
	}
	// byte for byte, but for where summary.json says the inputs were read
	sameAnalysis(t, filepath.Join(node, "analysis"), objectPath(t, srv, outURL), spansURL, "spans/")
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
