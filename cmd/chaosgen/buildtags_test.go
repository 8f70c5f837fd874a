package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// buildTag is the tag of every build of chaosgen here (GOTAGS in the
// Makefile): it leaves out the Google Cloud Storage client's gRPC DirectPath
// modules, which chaosgen never uses.
const buildTag = "disable_grpc_modules"

// leftOut are the import path prefixes the tag is there to leave out.
var leftOut = []string{"google.golang.org/grpc/xds", "google.golang.org/grpc/balancer/rls"}

// TestBuildTags checks that the Makefile, deploy/Dockerfile and every bench
// script that builds the chaosgen command pass the build tag, and that the
// tag still leaves out what it is there for: a new version of the storage
// client could rename it, and the builds would silently link the modules
// again.
func TestBuildTags(t *testing.T) {
	root := filepath.Join("..", "..")
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^GOTAGS \?= ` + buildTag + `$`).Match(mk) {
		t.Errorf("the Makefile does not set GOTAGS ?= %s", buildTag)
	}
	if !regexp.MustCompile(`(?m)^export GOFLAGS \+= -tags=\$\(GOTAGS\)$`).Match(mk) {
		t.Error("the Makefile does not pass GOTAGS to the go commands of its recipes (export GOFLAGS += -tags=$(GOTAGS))")
	}
	files := []string{filepath.Join(root, "deploy", "Dockerfile")}
	err = filepath.WalkDir(filepath.Join(root, "bench"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sh") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	builds := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, cmd := range strings.Split(line, "&&") {
				if !strings.Contains(cmd, "go build") || !strings.Contains(cmd, "./cmd/chaosgen") {
					continue
				}
				builds++
				if !strings.Contains(cmd, "-tags "+buildTag) {
					t.Errorf("%s:%d builds chaosgen without -tags %s: %s", f, i+1, buildTag, strings.TrimSpace(cmd))
				}
			}
		}
	}
	if builds < 4 {
		t.Errorf("found %d builds of chaosgen in deploy/Dockerfile and bench/*/*.sh, expected at least 4 (the Dockerfile, bench/scale, bench/inject, bench/loop): has the layout changed?", builds)
	}

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the command's packages: %v", err)
	}
	linked := func(args ...string) []string {
		cmd := exec.Command(goBin, append([]string{"list", "-deps"}, append(args, ".")...)...)
		// the Makefile exports the tag in GOFLAGS: the build without it
		// must not inherit it
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %v: %v", args, err)
		}
		var hit []string
		for p := range strings.FieldsSeq(string(out)) {
			if slices.ContainsFunc(leftOut, func(pre string) bool { return strings.HasPrefix(p, pre) }) {
				hit = append(hit, p)
			}
		}
		return hit
	}
	if hit := linked("-tags", buildTag); len(hit) > 0 {
		t.Errorf("with -tags %s the command still links %d packages it should leave out, e.g. %s", buildTag, len(hit), hit[0])
	}
	if hit := linked(); len(hit) == 0 {
		t.Errorf("without -tags %s the command links none of %v: the storage client no longer imports them, and the tag can go", buildTag, leftOut)
	}
}
