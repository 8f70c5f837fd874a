package inject

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/guard"
)

// Status is what GET /status returns.
type Status struct {
	Bundle        BundleStatus    `json:"bundle"`
	Service       string          `json:"service"`
	Killed        bool            `json:"killed"`
	Guards        GuardStatus     `json:"guards"`
	Profiles      []ProfileStatus `json:"profiles"`
	Scenarios     []ProfileStatus `json:"scenarios"`
	Requests      int64           `json:"requests"`
	InternalError int64           `json:"internalErrors"`
	RecordsDrop   int64           `json:"recordsDropped"`
	Injecting     bool            `json:"injecting"` // false when killed, tripped or expired
}

// BundleStatus describes the running bundle.
type BundleStatus struct {
	Name        string `json:"name"`
	Digest      string `json:"digest"`
	Signer      string `json:"signer,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Seed        uint64 `json:"seed"`
	NotAfter    string `json:"notAfter,omitempty"`
	Expired     bool   `json:"expired"`
	LoadedAt    string `json:"loadedAt"`
}

// GuardStatus is the state of the guards.
type GuardStatus struct {
	bundle.Guards
	Tripped    bool   `json:"tripped"`
	TripReason string `json:"tripReason,omitempty"`
	// Trip is the condition that tripped, its value, limit and time.
	Trip            *guard.Trip  `json:"trip,omitempty"`
	Limits          guard.Limits `json:"limits"` // the guards as this injector applies them
	ActiveFaults    int64        `json:"activeFaults"`
	WindowSeconds   float64      `json:"windowSeconds"`
	WindowRequests  int64        `json:"windowRequests"`
	WindowInjected  int64        `json:"windowInjected"`
	WindowErrorRate float64      `json:"windowErrorRate"`
	WindowP99Ms     float64      `json:"windowP99Ms"`
	// The root requests (without a caller) of the window.
	WindowRootRequests  int64   `json:"windowRootRequests"`
	WindowRootErrorRate float64 `json:"windowRootErrorRate"`
	WindowRootP99Ms     float64 `json:"windowRootP99Ms"`
}

// ProfileStatus is a profile with its live counts.
type ProfileStatus struct {
	bundle.Profile
	Expires    string `json:"expires,omitempty"` // scenarios only
	Matched    int64  `json:"matched"`
	Fired      int64  `json:"fired"`
	Injected   int64  `json:"injected"`
	Suppressed int64  `json:"suppressed"`
}

// Status reports the injector's state.
func (inj *Injector) Status() Status {
	now := inj.now()
	c := inj.cfg.Load()
	st := Status{
		Service:       inj.opts.Service,
		Killed:        inj.killed.Load(),
		Requests:      inj.requests.Load(),
		InternalError: inj.internalErrors.Load(),
		Profiles:      []ProfileStatus{},
		Scenarios:     []ProfileStatus{},
	}
	if inj.opts.Records != nil {
		st.RecordsDrop = inj.opts.Records.Dropped()
	}
	b := c.b
	st.Bundle = BundleStatus{Name: b.Metadata.Name, Digest: "sha256:" + c.digest, Seed: b.Metadata.Seed,
		LoadedAt: c.loadedAt.UTC().Format(time.RFC3339Nano)}
	if c.sig != nil {
		st.Bundle.Signer, st.Bundle.Fingerprint = c.sig.Principal, c.sig.Fingerprint
	}
	if !b.Metadata.NotAfter.IsZero() {
		st.Bundle.NotAfter = b.Metadata.NotAfter.UTC().Format(time.RFC3339)
		st.Bundle.Expired = now.After(b.Metadata.NotAfter)
	}
	ws := inj.guard.Stats(now.UnixNano())
	st.Guards = GuardStatus{Guards: b.Guards, Limits: c.limits, ActiveFaults: inj.guard.Active(),
		WindowSeconds: ws.WindowSeconds, WindowRequests: ws.Requests, WindowInjected: ws.Injected,
		WindowErrorRate: ws.ErrorRate(), WindowP99Ms: ws.P99Ms,
		WindowRootRequests: ws.RootRequests, WindowRootErrorRate: ws.RootErrorRate(), WindowRootP99Ms: ws.RootP99Ms}
	if t := inj.guard.Tripped(); t != nil {
		st.Guards.Tripped, st.Guards.TripReason, st.Guards.Trip = true, t.Reason(), t
	}
	st.Injecting = !st.Killed && !st.Guards.Tripped && !st.Bundle.Expired
	for _, a := range c.profiles {
		st.Profiles = append(st.Profiles, profileStatus(a))
	}
	for _, a := range *inj.scenarios.Load() {
		if a.expires.After(now) {
			ps := profileStatus(a)
			ps.Expires = a.expires.UTC().Format(time.RFC3339Nano)
			st.Scenarios = append(st.Scenarios, ps)
		}
	}
	return st
}

func profileStatus(a *active) ProfileStatus {
	return ProfileStatus{Profile: a.p, Matched: a.stats.Matched.Load(), Fired: a.stats.Fired.Load(),
		Injected: a.stats.Injected.Load(), Suppressed: a.stats.Suppressed.Load()}
}

// ScenarioRequest is the body of POST /scenarios: a profile as in a bundle
// and how long it applies ("5m", Go duration syntax).
type ScenarioRequest struct {
	Profile  bundle.Profile `json:"profile"`
	Duration string         `json:"duration"`
}

// AdminHandler serves the admin API: GET /status, GET /scenarios and GET
// /metrics are open; POST /kill, /resume, /reload, /scenarios and DELETE
// /scenarios/{id} need "Authorization: Bearer <token>". With an empty
// token every mutation is refused (403).
func (inj *Injector) AdminHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mutate := func(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if token == "" {
				writeJSON(w, http.StatusForbidden, errBody("mutations are disabled: start the injector with --admin-token-file"))
				return
			}
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="chaosgen-inject"`)
				writeJSON(w, http.StatusUnauthorized, errBody("a valid bearer token is required"))
				return
			}
			inj.log.Info("admin", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			h(w, r)
		}
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, inj.Status())
	})
	mux.HandleFunc("GET /scenarios", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, inj.Scenarios())
	})
	mux.Handle("GET /metrics", inj.MetricsHandler())
	mux.HandleFunc("POST /kill", mutate(func(w http.ResponseWriter, r *http.Request) {
		inj.Kill()
		writeJSON(w, http.StatusOK, map[string]any{"killed": true})
	}))
	mux.HandleFunc("POST /resume", mutate(func(w http.ResponseWriter, r *http.Request) {
		inj.Resume()
		writeJSON(w, http.StatusOK, map[string]any{"killed": false, "tripped": false})
	}))
	mux.HandleFunc("POST /reload", mutate(func(w http.ResponseWriter, r *http.Request) {
		if err := inj.Reload(); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, errBody(err.Error()))
			return
		}
		writeJSON(w, http.StatusOK, inj.Status().Bundle)
	}))
	mux.HandleFunc("POST /scenarios", mutate(func(w http.ResponseWriter, r *http.Request) {
		var req ScenarioRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, errBody("reading the scenario: "+err.Error()))
			return
		}
		d, err := time.ParseDuration(req.Duration)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errBody(fmt.Sprintf("duration: %v", err)))
			return
		}
		s, err := inj.AddScenario(req.Profile, d)
		if err != nil {
			code := http.StatusBadRequest
			if !errors.Is(err, bundle.ErrInvalid) {
				code = http.StatusInternalServerError
			}
			writeJSON(w, code, errBody(err.Error()))
			return
		}
		writeJSON(w, http.StatusCreated, s)
	}))
	mux.HandleFunc("DELETE /scenarios/{id}", mutate(func(w http.ResponseWriter, r *http.Request) {
		if !inj.RemoveScenario(r.PathValue("id")) {
			writeJSON(w, http.StatusNotFound, errBody("no scenario "+r.PathValue("id")))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return mux
}

func errBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
