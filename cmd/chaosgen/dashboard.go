package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/dashboard"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/usage"
	"github.com/chaosgen/chaosgen/sim"
	"github.com/spf13/cobra"
)

// dashboardInputs are the flags dashboard and report share.
type dashboardInputs struct {
	analysis, bundle, replay string
	vo                       bundle.VerifyOptions
}

func (in *dashboardInputs) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&in.analysis, "analysis", "", "analysis directory (analyze -o DIR); required")
	cmd.Flags().StringVar(&in.bundle, "bundle", "", "bundle to show (and, in the dashboard, edit)")
	cmd.Flags().StringVar(&in.replay, "replay", "", "replay directory (replay -o DIR): report.json, spans.parquet, adapt.json, learn.json")
	addVerifyFlags(cmd, &in.vo, false)
}

func (in *dashboardInputs) check(name string) error {
	switch {
	case in.analysis == "":
		return usagef("%s: --analysis DIR is required", name)
	case checkVerifyFlags(name, in.vo, false) != nil:
		return checkVerifyFlags(name, in.vo, false)
	case in.vo.Enabled() && in.bundle == "":
		return usagef("%s: --pub and --allowed-signers need --bundle", name)
	}
	return nil
}

type dashboardOptions struct {
	dashboardInputs
	listen, key, injector, tokenFile, mesh string
	spans, allowHosts                      []string
}

func newDashboardCmd() *cobra.Command {
	var o dashboardOptions
	cmd := &cobra.Command{
		Use:   "dashboard --analysis DIR [--bundle B] [--replay DIR] [--injector URL --injector-token-file F] [--key KEY] [--listen 127.0.0.1:0]",
		Short: "Serve the web UI: service graph, edge charts, profiles (edit, simulate, re-sign) and live scenarios",
		Long: `dashboard serves a web UI on --listen (default 127.0.0.1 on a free port) and
prints its URL. It reads only the files given here, once, before serving:
the analysis, the bundle (verified with --pub or --allowed-signers and
--identity), a replay directory and the span files that Simulate replays
(--spans; default: the analysis inputs when they still exist).

On the Profiles view an operator edits a profile's rate, fault or severity,
presses Simulate (the edited bundle is replayed on the server, before and
after shown) and Save: a new file next to the bundle (NAME.edited.json, never
an existing file), signed with --key when given; the key never leaves the
server. With --injector the Scenarios view shows the injector's live status
and starts scenarios or the kill switch through its admin API, after a
confirmation.

Bound to loopback, it refuses other clients. It answers only requests whose
Host is a loopback name or one of --allow-host, so a page elsewhere cannot
reach it by DNS rebinding; listening on another address needs --allow-host
with the names other machines use. Every state-changing request needs the
per-run token of its pages and an Origin that is one of these addresses.`,
		Example: `  chaosgen dashboard --analysis demo/analysis --bundle demo/bundle.json --pub demo/key.pub --replay demo/replay --key demo/key
  chaosgen dashboard --analysis out/analysis --bundle bundle.json --injector http://127.0.0.1:9901 --injector-token-file admin.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check("dashboard"); err != nil {
				return err
			}
			if o.key != "" && o.bundle == "" {
				return usagef("dashboard: --key needs --bundle")
			}
			if o.tokenFile != "" && o.injector == "" {
				return usagef("dashboard: --injector-token-file needs --injector")
			}
			if host, _, err := net.SplitHostPort(o.listen); err != nil {
				return usagef("dashboard: --listen: %v", err)
			} else if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) && len(o.allowHosts) == 0 {
				return usagef("dashboard: --listen %s serves other machines: give --allow-host with the name they reach it by (e.g. --allow-host dash.internal), or listen on 127.0.0.1", o.listen)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runDashboard(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:0", "address to serve on; a non-loopback address serves other machines (with --allow-host)")
	cmd.Flags().StringSliceVar(&o.allowHosts, "allow-host", nil, "host name (or name:port) other machines reach the dashboard by; repeatable; needed to listen beyond loopback")
	cmd.Flags().StringVar(&o.key, "key", "", "key that signs saved bundles: a private key file (Ed25519, ECDSA or RSA, mode 0600), or KEY.pub of a key in ssh-agent")
	cmd.Flags().StringVar(&o.injector, "injector", "", "a running injector's admin API, e.g. http://127.0.0.1:9901")
	cmd.Flags().StringVar(&o.tokenFile, "injector-token-file", "", "file holding the injector's admin bearer token")
	cmd.Flags().StringSliceVar(&o.spans, "spans", nil, "span files (or directories, globs) that Simulate replays")
	cmd.Flags().StringVar(&o.mesh, "mesh", "", "mesh policy for Simulate (see docs/replay.md)")
	return cmd
}

// loadDashboard reads the inputs shared by dashboard and report.
func loadDashboard(ctx context.Context, in dashboardInputs, spans []string, meshPath string, now time.Time) (*dashboard.Data, error) {
	in.vo.Now = now
	o := dashboard.Options{Analysis: in.analysis, Bundle: in.bundle, Replay: in.replay, Verify: in.vo}
	if len(spans) > 0 {
		files, err := ingest.Inputs(spans)
		if err != nil {
			return nil, usage.Wrap(err)
		}
		o.Spans = files
	}
	if meshPath != "" {
		m, err := sim.ReadMesh(meshPath)
		if err != nil {
			return nil, err
		}
		if len(o.Spans) > 0 {
			if err := m.CheckServices(ctx, o.Spans); err != nil {
				return nil, fmt.Errorf("%s: %w", meshPath, err)
			}
		}
		o.Mesh = m
	}
	return dashboard.Load(ctx, o)
}

func runDashboard(ctx context.Context, stdout, stderr io.Writer, o dashboardOptions) error {
	d, err := loadDashboard(ctx, o.dashboardInputs, o.spans, o.mesh, time.Now())
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	so := dashboard.ServerOptions{}
	if o.key != "" {
		if so.Signer, err = bundle.LoadSigner(o.key); err != nil {
			return fmt.Errorf("dashboard: --key: %w", err)
		}
	}
	if o.injector != "" {
		token := ""
		if o.tokenFile != "" {
			data, err := os.ReadFile(o.tokenFile)
			if err != nil {
				return fmt.Errorf("dashboard: --injector-token-file: %w", err)
			}
			token = strings.TrimSpace(string(data))
		}
		if so.Injector, err = dashboard.NewInjectorClient(o.injector, token); err != nil {
			return usagef("dashboard: --injector: %v", err)
		}
	}
	if len(d.Spans) > 0 {
		seed := uint64(1)
		if d.Replay != nil {
			seed = d.Replay.Report.Seed
		}
		so.Simulate = dashboard.ReplaySimulator(d.Spans, d.Mesh, seed)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	so.LoopbackOnly = addr.IP.IsLoopback()
	so.AllowedHosts = o.allowHosts
	srv, err := dashboard.NewServer(d, so)
	if err != nil {
		ln.Close()
		return fmt.Errorf("dashboard: %w", err)
	}
	if !so.LoopbackOnly {
		fmt.Fprintf(stderr, "chaosgen: dashboard: warning: listening on %s serves other machines that name %s; anyone who reaches it can read the page token\n", addr, strings.Join(o.allowHosts, ", "))
	}
	if so.Simulate == nil && d.Bundle != nil {
		fmt.Fprintln(stderr, "chaosgen: dashboard: warning: no span files to replay: Simulate is off (give --spans)")
	}
	host := addr.String()
	if addr.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.Port))
	}
	fmt.Fprintf(stdout, "chaosgen dashboard: http://%s/\n", host)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
