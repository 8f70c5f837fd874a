// Command meshsvc runs a local mesh of real service processes for the
// feedback loop (bench/loop, docs/nightly.md "A local mesh"): one binary,
// one service per process, selected by --service; each service's work, its
// downstream calls and their timeouts, retries, budgets, fallbacks and its
// concurrency limit come from a YAML file (bench/loop/mesh.yaml). It also
// holds the loop's tools: the load generator, the record linker, root
// statistics, the replay mesh and the empty first-night bundle.
//
//	meshsvc serve --config mesh.yaml --service NAME --listen ADDR [--downstream NAME=URL]... [--seed N]
//	meshsvc load --config mesh.yaml --target URL --rps R --day 60s [--seed N]
//	meshsvc link -o spans.parquet RECORDS...   (group the records by trace)
//	meshsvc stats SPANS...
//	meshsvc replay-mesh --config mesh.yaml
//	meshsvc ingress --config mesh.yaml
//	meshsvc services --config mesh.yaml
//	meshsvc empty-bundle --key KEY -o bundle.json
//	meshsvc ports N
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "meshsvc: %v\n", err)
		os.Exit(1)
	}
}

type downstreams map[string]string

func (d downstreams) String() string { return fmt.Sprint(map[string]string(d)) }
func (d downstreams) Set(v string) error {
	name, url, ok := strings.Cut(v, "=")
	if !ok || name == "" || url == "" {
		return fmt.Errorf("want NAME=URL, got %q", v)
	}
	d[name] = url
	return nil
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: meshsvc serve|load|link|stats|replay-mesh|ingress|services|empty-bundle|ports [flags]")
	}
	fs := flag.NewFlagSet("meshsvc "+args[0], flag.ContinueOnError)
	config := fs.String("config", "", "the mesh's YAML")
	service := fs.String("service", "", "the service this process serves")
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	seed := fs.Uint64("seed", 1, "seed")
	target := fs.String("target", "", "load: the ingress URL")
	rps := fs.Float64("rps", 20, "load: peak root requests per second")
	day := fs.Duration("day", time.Minute, "load: the length of one compressed day")
	out := fs.String("o", "", "output file")
	key := fs.String("key", "", "empty-bundle: signing key")
	down := downstreams{}
	fs.Var(down, "downstream", "serve: NAME=URL of a downstream service (its sidecar); repeatable")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg := func() (*Config, error) {
		if *config == "" {
			return nil, errors.New("--config is required")
		}
		return loadConfig(*config)
	}
	switch args[0] {
	case "serve":
		c, err := cfg()
		if err != nil {
			return err
		}
		return serve(c, *service, *listen, down, *seed)
	case "load":
		c, err := cfg()
		if err != nil {
			return err
		}
		paths, cum := c.pathMix()
		sent, failed, err := load(*target, paths, cum, *rps, *day, *seed)
		fmt.Printf("sent=%d failed=%d\n", sent, failed)
		return err
	case "link":
		if *out == "" || fs.NArg() == 0 {
			return errors.New("link: -o FILE and record files are required")
		}
		spans, err := ingest.ReadAll(fs.Args())
		if err != nil {
			return err
		}
		linked, orphans := link(spans)
		if err := ingest.WriteFile(*out, spans); err != nil {
			return err
		}
		fmt.Printf("spans=%d linked=%d orphans=%d %s\n", len(spans), linked, orphans, rootStatsOf(spans))
		return nil
	case "stats":
		spans, err := ingest.ReadAll(fs.Args())
		if err != nil {
			return err
		}
		fmt.Println(rootStatsOf(spans))
		return nil
	case "replay-mesh", "ingress", "services":
		c, err := cfg()
		if err != nil {
			return err
		}
		switch args[0] {
		case "replay-mesh":
			fmt.Print(c.replayMesh())
		case "ingress":
			in, err := c.ingress()
			if err != nil {
				return err
			}
			fmt.Println(in)
		default:
			for _, n := range c.names() {
				fmt.Print(n, " ", strings.Join(callees(c.Services[n]), ","), "\n")
			}
		}
		return nil
	case "empty-bundle":
		return emptyBundle(*out, *key)
	case "ports":
		return ports(fs.Args())
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func callees(s Service) []string {
	out := []string{}
	for _, c := range s.Calls {
		out = append(out, c.To)
	}
	return out
}

// emptyBundle writes a signed bundle with no profiles (and maxGlobalRate 0):
// the sidecars' bundle on the first night, which records fault-free traffic.
func emptyBundle(path, key string) error {
	if path == "" || key == "" {
		return errors.New("empty-bundle: -o and --key are required")
	}
	now := time.Now().UTC().Truncate(time.Second)
	b := &bundle.Bundle{
		APIVersion: bundle.APIVersion,
		Kind:       bundle.Kind,
		Metadata: bundle.Metadata{
			Generator: "meshsvc",
			Name:      "localmesh-night-0",
			NotAfter:  now.Add(24 * time.Hour),
			Seed:      1,
			Source:    bundle.Source{Files: []bundle.SourceFile{}, TimeRange: bundle.TimeRange{Start: now, End: now}},
		},
		Profiles: []bundle.Profile{},
	}
	signer, err := bundle.LoadSigner(key)
	if err != nil {
		return err
	}
	_, err = bundle.Write(path, b, signer)
	return err
}

// ports prints N free loopback ports (listened on and closed at once).
func ports(args []string) error {
	var n int
	if len(args) != 1 {
		return errors.New("ports N")
	}
	if _, err := fmt.Sscan(args[0], &n); err != nil || n <= 0 {
		return fmt.Errorf("ports: bad count %q", args[0])
	}
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
