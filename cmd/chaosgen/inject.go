package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chaosgen/chaosgen/inject"
	"github.com/spf13/cobra"
)

type injectOptions struct {
	inject.Config
	verbose   bool
	logFormat string
}

func newInjectCmd() *cobra.Command {
	var o injectOptions
	cmd := &cobra.Command{
		Use:   "inject --bundle B (--pub KEY.pub | --allowed-signers F --identity ID) --upstream URL --service NAME",
		Short: "Run the sidecar proxy that applies a verified bundle to live traffic",
		Long: `inject is a reverse proxy (HTTP/1.1 and h2c, streaming bodies, websockets passed
through) in front of one upstream. It verifies the bundle's signature, schema and
expiry before it starts, and refuses one that fails (exit 3). Each request is
matched against the profiles targeting --service; the caller comes from the
x-chaosgen-caller header or --caller; the trace id from traceparent or B3. A
profile that fires injects latency, an abort, a drop or a corrupt body, within
the bundle's guards. The admin API (--admin, loopback) serves /status,
/metrics and /scenarios; POST /kill, /resume, /reload and /scenarios need the
bearer token in --admin-token-file. The bundle is reloaded on SIGHUP and when
its files change; a bundle that does not verify is rejected and the old one
keeps running. See docs/inject.md.`,
		Example: `  chaosgen inject --bundle bundles/shop.json --pub ci.pub --service cart \
    --listen 127.0.0.1:7450 --upstream http://127.0.0.1:8080 \
    --admin 127.0.0.1:7451 --admin-token-file /run/secrets/chaosgen-token --records /var/lib/chaosgen/records
  # as a Kubernetes sidecar: see deploy/kubernetes/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Check(); err != nil {
				return fmt.Errorf("inject: %w", err)
			}
			if o.logFormat != "text" && o.logFormat != "json" {
				return usagef("inject: --log-format %q: want text or json", o.logFormat)
			}
			warnUntargeted(cmd.ErrOrStderr(), o.Bundle, o.Service)
			level := slog.LevelInfo
			if o.verbose {
				level = slog.LevelDebug
			}
			ho := &slog.HandlerOptions{Level: level}
			if o.logFormat == "json" {
				o.Logger = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), ho))
			} else {
				o.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), ho))
			}
			o.Version = version
			o.Now = time.Now
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			o.Hangup = hup
			if err := inject.Serve(ctx, o.Config); err != nil {
				return fmt.Errorf("inject: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Bundle, "bundle", "", "bundle file (bundle.json); its signature is read from --sig or bundle.json.sig")
	addVerifyFlags(cmd, &o.Verify, true)
	f.StringVar(&o.Listen, "listen", inject.DefaultListen, "address the proxy listens on (in a pod: :7450, for the Service's targetPort)")
	f.StringVar(&o.Upstream, "upstream", "", "upstream base URL, http://host:port")
	f.StringVar(&o.Service, "service", "", "name of the upstream service: the callee of the requests the proxy serves")
	f.StringVar(&o.Caller, "caller", "", "caller of requests without an x-chaosgen-caller header")
	f.StringVar(&o.Admin, "admin", inject.DefaultAdmin, "address of the admin API, /metrics and the "+inject.HealthPath+" and "+inject.ReadyPath+" probes (empty: none)")
	f.StringVar(&o.AdminTokenFile, "admin-token-file", "", "file holding the bearer token that admin mutations need (without it they are refused)")
	f.StringVar(&o.Records, "records", "", "directory for span records (Parquet, schema v1); empty: no records")
	f.Int64Var(&o.RecordsMaxSize, "records-max-size", 64<<20, "rotate a record file at about this many bytes (before compression)")
	f.DurationVar(&o.RecordsMaxAge, "records-max-age", time.Minute, "rotate a record file after this long")
	f.DurationVar(&o.BusyPoll, "busy-poll", 0, "poll an empty socket this long before sleeping, while the proxy is nearly idle: lower latency for CPU time (see docs/inject.md); 0: off")
	f.StringVar(&o.KillFile, "kill-file", "", "file read every second; while it says on (1, true, on, yes, kill) injection is killed: the fleet-wide kill switch (a ConfigMap key)")
	f.IntVar(&o.MaxConns, "max-conns", 0, "cap on open client connections; 0: half the open file limit less 128")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", inject.DefaultIdleTimeout, "close a client connection idle this long")
	f.DurationVar(&o.HeadTimeout, "header-timeout", inject.DefaultHeadTimeout, "close a client connection whose request head takes longer")
	f.IntVar(&o.CorruptMaxBytes, "corrupt-max-bytes", inject.DefaultCorruptMaxBytes, "largest response body a corrupt fault holds; a larger one passes through unchanged")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text (key=value) or json")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log upstream errors and other details")
	return cmd
}
