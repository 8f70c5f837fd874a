package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/chaosgen/chaosgen/dashboard"
	"github.com/spf13/cobra"
)

type dashboardOptions struct {
	dashboardInputs
	dashboard.ServeConfig
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
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runDashboard(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:0", "address to serve on; a non-loopback address serves other machines (with --allow-host)")
	f.StringSliceVar(&o.AllowHosts, "allow-host", nil, "host name (or name:port) other machines reach the dashboard by; repeatable; needed to listen beyond loopback")
	f.StringVar(&o.Key, "key", "", "key that signs saved bundles: a private key file (Ed25519, ECDSA or RSA, mode 0600), or KEY.pub of a key in ssh-agent")
	f.StringVar(&o.Injector, "injector", "", "a running injector's admin API, e.g. http://127.0.0.1:9901")
	f.StringVar(&o.TokenFile, "injector-token-file", "", "file holding the injector's admin bearer token")
	f.StringSliceVar(&o.Spans, "spans", nil, "span files (or directories, globs) that Simulate replays")
	f.StringVar(&o.MeshPath, "mesh", "", "mesh policy for Simulate (see docs/replay.md)")
	return cmd
}

func runDashboard(ctx context.Context, stdout, stderr io.Writer, o dashboardOptions) error {
	if err := o.check("dashboard"); err != nil {
		return err
	}
	switch host, _, err := net.SplitHostPort(o.Listen); {
	case o.Key != "" && o.Bundle == "":
		return usagef("dashboard: --key needs --bundle")
	case o.TokenFile != "" && o.Injector == "":
		return usagef("dashboard: --injector-token-file needs --injector")
	case err != nil:
		return usagef("dashboard: --listen: %v", err)
	case !(host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback()) && len(o.AllowHosts) == 0:
		return usagef("dashboard: --listen %s serves other machines: give --allow-host with the name they reach it by (e.g. --allow-host dash.internal), or listen on 127.0.0.1", o.Listen)
	}
	o.Verify.Now = time.Now()
	d, err := dashboard.Open(ctx, o.Inputs)
	if err == nil {
		o.Ready = func(url string) { fmt.Fprintf(stdout, "chaosgen dashboard: %s\n", url) }
		o.Warn = func(msg string) { fmt.Fprintf(stderr, "chaosgen: dashboard: %s\n", msg) }
		err = dashboard.Serve(ctx, d, o.ServeConfig)
	}
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
