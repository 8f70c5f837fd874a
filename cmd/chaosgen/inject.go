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

// The default addresses of `chaosgen inject`: ports no common sidecar or
// service uses (Istio takes 15000-15090, Linkerd 4140-4191, Envoy's admin
// 9901, Dapr 3500 and 50001, Consul 8500-8600 and 21000+, Prometheus and
// its exporters 9090-9999, OpenTelemetry 4317-4318, apps 3000, 5000, 8000,
// 8080, 8443). See docs/inject.md.
const (
	defaultInjectListen = "127.0.0.1:7450"
	defaultInjectAdmin  = "127.0.0.1:7451"
)

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
			switch {
			case o.Bundle == "":
				return usagef("inject: --bundle is required")
			case checkVerifyFlags("inject", o.Verify, true) != nil:
				return checkVerifyFlags("inject", o.Verify, true)
			case o.Upstream == "":
				return usagef("inject: --upstream is required")
			case o.Service == "":
				return usagef("inject: --service is required")
			case checkUpstream(o.Upstream) != nil:
				return checkUpstream(o.Upstream)
			case o.BusyPoll < 0 || o.BusyPoll > maxBusyPoll:
				return usagef("inject: --busy-poll %s: want 0 (off) to %s; 20us-100us is typical", o.BusyPoll, maxBusyPoll)
			case o.logFormat != "text" && o.logFormat != "json":
				return usagef("inject: --log-format %q: want text or json", o.logFormat)
			case o.MaxConns < 0:
				return usagef("inject: --max-conns %d: want 0 (from the open file limit) or a positive cap", o.MaxConns)
			case o.IdleTimeout <= 0 || o.HeadTimeout <= 0:
				return usagef("inject: --idle-timeout and --header-timeout must be positive")
			case o.CorruptMaxBytes <= 0:
				return usagef("inject: --corrupt-max-bytes must be positive")
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
	f.StringVar(&o.Listen, "listen", defaultInjectListen, "address the proxy listens on (in a pod: :7450, for the Service's targetPort)")
	f.StringVar(&o.Upstream, "upstream", "", "upstream base URL, http://host:port")
	f.StringVar(&o.Service, "service", "", "name of the upstream service: the callee of the requests the proxy serves")
	f.StringVar(&o.Caller, "caller", "", "caller of requests without an x-chaosgen-caller header")
	f.StringVar(&o.Admin, "admin", defaultInjectAdmin, "address of the admin API, /metrics and the "+inject.HealthPath+" and "+inject.ReadyPath+" probes (empty: none)")
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

// maxBusyPoll bounds --busy-poll: longer polls burn CPU for waits that
// sleeping serves as well.
const maxBusyPoll = 10 * time.Millisecond
