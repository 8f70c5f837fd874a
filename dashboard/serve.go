package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/usage"
	"github.com/chaosgen/chaosgen/sim"
)

// Inputs name the files chaosgen dashboard and report read, as their flags
// do; Open reads them.
type Inputs struct {
	Analysis, Bundle, Replay string
	Verify                   bundle.VerifyOptions
	Spans                    []string // span files, directories or globs (ingest.Inputs)
	MeshPath                 string   // mesh policy YAML for Simulate
}

// Open resolves in's span inputs and mesh (checked against the services in
// the spans) and loads everything (Load).
func Open(ctx context.Context, in Inputs) (*Data, error) {
	o := Options{Analysis: in.Analysis, Bundle: in.Bundle, Replay: in.Replay, Verify: in.Verify}
	if len(in.Spans) > 0 {
		files, err := ingest.Inputs(in.Spans)
		if err != nil {
			return nil, usage.Wrap(err)
		}
		o.Spans = files
	}
	if in.MeshPath != "" {
		m, err := sim.ReadMesh(in.MeshPath)
		if err != nil {
			return nil, err
		}
		if len(o.Spans) > 0 {
			if err := m.CheckServices(ctx, o.Spans); err != nil {
				return nil, fmt.Errorf("%s: %w", in.MeshPath, err)
			}
		}
		o.Mesh = m
	}
	return Load(ctx, o)
}

// ServeConfig says where and how Serve serves d.
type ServeConfig struct {
	Listen     string   // address; a non-loopback one needs AllowHosts
	AllowHosts []string // see ServerOptions.AllowedHosts
	Key        string   // key that signs saved bundles (bundle.LoadSigner); empty: unsigned
	Injector   string   // a live injector's admin API URL; empty: no scenarios
	TokenFile  string   // file holding the injector's admin token
	Ready      func(url string)
	Warn       func(msg string)
}

// Serve serves d on c.Listen until ctx is done, then shuts down within 5 s.
// Ready is told the URL once it listens; Warn what the operator should
// know (serving other machines, Simulate off).
func Serve(ctx context.Context, d *Data, c ServeConfig) error {
	so := ServerOptions{}
	var err error
	if c.Key != "" {
		if so.Signer, err = bundle.LoadSigner(c.Key); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
	}
	if c.Injector != "" {
		token := ""
		if c.TokenFile != "" {
			data, err := os.ReadFile(c.TokenFile)
			if err != nil {
				return fmt.Errorf("--injector-token-file: %w", err)
			}
			token = strings.TrimSpace(string(data))
		}
		if so.Injector, err = NewInjectorClient(c.Injector, token); err != nil {
			return usage.Errorf("--injector: %v", err)
		}
	}
	if len(d.Spans) > 0 {
		seed := uint64(1)
		if d.Replay != nil {
			seed = d.Replay.Report.Seed
		}
		so.Simulate = ReplaySimulator(d.Spans, d.Mesh, seed)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	addr := ln.Addr().(*net.TCPAddr)
	so.LoopbackOnly = addr.IP.IsLoopback()
	so.AllowedHosts = c.AllowHosts
	srv, err := NewServer(d, so)
	if err != nil {
		ln.Close()
		return err
	}
	if !so.LoopbackOnly {
		c.Warn(fmt.Sprintf("warning: listening on %s serves other machines that name %s; anyone who reaches it can read the page token", addr, strings.Join(c.AllowHosts, ", ")))
	}
	if so.Simulate == nil && d.Bundle != nil {
		c.Warn("warning: no span files to replay: Simulate is off (give --spans)")
	}
	host := addr.String()
	if addr.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.Port))
	}
	c.Ready("http://" + host + "/")
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
