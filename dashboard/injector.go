package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/inject"
)

// InjectorClient talks to a running injector's admin API (docs/inject.md).
type InjectorClient struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// NewInjectorClient returns a client of the admin API at rawURL; token is
// its bearer token (empty: read-only).
func NewInjectorClient(rawURL, token string) (*InjectorClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("injector URL %q: want http(s)://host:port", rawURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &InjectorClient{base: u, token: strings.TrimSpace(token), hc: &http.Client{Timeout: 10 * time.Second}}, nil
}

// URL is the admin API's address.
func (c *InjectorClient) URL() string { return c.base.String() }

func (c *InjectorClient) do(ctx context.Context, method, p string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+p, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		if c.token == "" {
			return errors.New("no injector token: start the dashboard with --injector-token-file")
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("injector %s %s: %w", method, p, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("injector %s %s: %w", method, p, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return fmt.Errorf("injector %s %s: %s: %s", method, p, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("injector %s %s: reading the answer: %w", method, p, err)
		}
	}
	return nil
}

// Status is GET /status.
func (c *InjectorClient) Status(ctx context.Context) (*inject.Status, error) {
	var st inject.Status
	if err := c.do(ctx, http.MethodGet, "/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Kill is POST /kill: the kill switch.
func (c *InjectorClient) Kill(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/kill", nil, nil)
}

// Resume is POST /resume.
func (c *InjectorClient) Resume(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/resume", nil, nil)
}

// AddScenario is POST /scenarios: p applies for d.
func (c *InjectorClient) AddScenario(ctx context.Context, p bundle.Profile, d time.Duration) (*inject.Scenario, error) {
	var sc inject.Scenario
	if err := c.do(ctx, http.MethodPost, "/scenarios", inject.ScenarioRequest{Profile: p, Duration: d.String()}, &sc); err != nil {
		return nil, err
	}
	return &sc, nil
}

// MaxScenario bounds the duration of a scenario started from the dashboard.
const MaxScenario = 24 * time.Hour

// ScenarioRequest is the body of POST /api/injector/scenario: a profile of
// the dashboard's bundle, an optional rate, how long, and the confirmation.
type ScenarioRequest struct {
	Profile  string   `json:"profile"`
	Rate     *float64 `json:"rate,omitempty"`
	Duration string   `json:"duration"`
	Confirm  bool     `json:"confirm"`
}

// ConfirmRequest is the body of the kill and resume actions.
type ConfirmRequest struct {
	Confirm bool `json:"confirm"`
}

func (s *Server) needInjector(w http.ResponseWriter) bool {
	if s.o.Injector == nil {
		jsonError(w, http.StatusConflict, "no injector: start the dashboard with --injector URL --injector-token-file FILE")
		return false
	}
	return true
}

func (s *Server) injectorStatus(w http.ResponseWriter, r *http.Request) {
	if !s.needInjector(w) {
		return
	}
	st, err := s.o.Injector.Status(r.Context())
	if err != nil {
		jsonError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) addScenario(w http.ResponseWriter, r *http.Request) {
	if !s.needInjector(w) {
		return
	}
	var req ScenarioRequest
	if err := decodeBody(r, &req); err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !req.Confirm {
		jsonError(w, http.StatusBadRequest, "not confirmed: a scenario starts only after the confirmation step")
		return
	}
	if s.d.Bundle == nil {
		jsonError(w, http.StatusConflict, "no bundle: scenarios are profiles of --bundle")
		return
	}
	var p *bundle.Profile
	for i := range s.d.Bundle.B.Profiles {
		if s.d.Bundle.B.Profiles[i].ID == req.Profile {
			p = &s.d.Bundle.B.Profiles[i]
		}
	}
	if p == nil {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("no profile %q in the bundle", req.Profile))
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil || d < time.Second || d > MaxScenario {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("duration %q: want a Go duration between 1s and %s", req.Duration, MaxScenario))
		return
	}
	sp := *p
	// A scenario runs beside the bundle's profiles, so it needs its own id.
	sp.ID = scenarioID(p.ID)
	if req.Rate != nil {
		sp.Rate = *req.Rate
		sp.MaxRate = max(sp.MaxRate, sp.Rate)
	}
	sc, err := s.o.Injector.AddScenario(r.Context(), sp, d)
	if err != nil {
		jsonError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"scenario": sc, "message": fmt.Sprintf("scenario %s runs until %s", sc.Profile.ID, sc.Expires.UTC().Format(time.RFC3339))})
}

func (s *Server) confirmed(w http.ResponseWriter, r *http.Request) bool {
	var req ConfirmRequest
	if err := decodeBody(r, &req); err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return false
	}
	if !req.Confirm {
		jsonError(w, http.StatusBadRequest, "not confirmed")
		return false
	}
	return true
}

func (s *Server) kill(w http.ResponseWriter, r *http.Request) {
	if !s.needInjector(w) || !s.confirmed(w, r) {
		return
	}
	if err := s.o.Injector.Kill(r.Context()); err != nil {
		jsonError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"killed": true, "message": "kill switch on: the injector stopped injecting"})
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if !s.needInjector(w) || !s.confirmed(w, r) {
		return
	}
	if err := s.o.Injector.Resume(r.Context()); err != nil {
		jsonError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"killed": false, "message": "resumed: the injector applies its bundle again"})
}

type scenariosView struct {
	URL    string
	Status *inject.Status
	Err    error
	Rows   []profileRow
}

func (s *Server) scenarios(w http.ResponseWriter, r *http.Request) {
	v := scenariosView{}
	if s.o.Injector != nil {
		v.URL = s.o.Injector.URL()
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		v.Status, v.Err = s.o.Injector.Status(ctx)
	}
	if s.d.Bundle != nil {
		for i := range s.d.Bundle.B.Profiles {
			v.Rows = append(v.Rows, s.d.profileRow(i, nil))
		}
	}
	s.render(w, http.StatusOK, "scenarios", page{Title: "Scenarios", Tab: "scenarios", V: v})
}

// scenarioID is the id of a scenario made from profile id: "scn-" + id,
// cut to the 63 characters an id may have.
func scenarioID(id string) string {
	s := "scn-" + id
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-.")
	}
	return s
}
