package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/sim"
)

// ProfileEdit changes one profile of the bundle; nil or empty fields are
// left as they are.
type ProfileEdit struct {
	ID       string        `json:"id"`
	Rate     *float64      `json:"rate,omitempty"`
	MaxRate  *float64      `json:"maxRate,omitempty"`
	Severity string        `json:"severity,omitempty"`
	Fault    *bundle.Fault `json:"fault,omitempty"`
}

// EditRequest is the body of POST /api/simulate and /api/save.
type EditRequest struct {
	Edits []ProfileEdit `json:"edits"`
}

// ApplyEdits returns a copy of b with the edits applied, and its canonical
// encoding. A rate raised above maxRate raises maxRate with it. The result
// is validated: an edit that breaks a bundle rule is an error wrapping
// bundle.ErrInvalid.
func ApplyEdits(b *bundle.Bundle, edits []ProfileEdit) (*bundle.Bundle, []byte, error) {
	raw, err := bundle.Encode(b)
	if err != nil {
		return nil, nil, err
	}
	nb, err := bundle.Decode(raw) // a deep copy
	if err != nil {
		return nil, nil, err
	}
	idx := map[string]int{}
	for i, p := range nb.Profiles {
		idx[p.ID] = i
	}
	seen := map[string]bool{}
	for _, e := range edits {
		i, ok := idx[e.ID]
		if !ok {
			return nil, nil, fmt.Errorf("no profile %q in the bundle: %w", e.ID, bundle.ErrInvalid)
		}
		if seen[e.ID] {
			return nil, nil, fmt.Errorf("profile %q edited twice: %w", e.ID, bundle.ErrInvalid)
		}
		seen[e.ID] = true
		p := &nb.Profiles[i]
		if e.Rate != nil {
			if math.IsNaN(*e.Rate) {
				return nil, nil, fmt.Errorf("profile %q: rate is not a number: %w", e.ID, bundle.ErrInvalid)
			}
			p.Rate = *e.Rate
		}
		if e.MaxRate != nil {
			p.MaxRate = *e.MaxRate
		} else if p.Rate > p.MaxRate {
			p.MaxRate = p.Rate
		}
		if e.Severity != "" {
			p.Severity = e.Severity
		}
		if e.Fault != nil {
			p.Fault = *e.Fault
		}
	}
	out, err := bundle.Encode(nb)
	if err != nil {
		return nil, nil, err
	}
	return nb, out, nil
}

// Simulator replays a bundle on the recorded traffic.
type Simulator func(ctx context.Context, b *bundle.Bundle) (*sim.Report, error)

// ReplaySimulator runs sim.Replay on files into a temporary directory that
// it removes afterwards. A replay that breaks the bundle's guards is a
// result, not an error.
func ReplaySimulator(files []string, mesh *sim.Mesh, seed uint64) Simulator {
	return func(ctx context.Context, b *bundle.Bundle) (*sim.Report, error) {
		tmp, err := os.MkdirTemp("", "chaosgen-dashboard-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		rep, err := sim.Replay(ctx, sim.ReplayOptions{Files: files, Mesh: mesh, Bundle: b, Seed: seed,
			BundleCheck: "edited in the dashboard", Dir: filepath.Join(tmp, "replay")})
		if errors.Is(err, sim.ErrGuardBreached) && rep != nil {
			err = nil
		}
		return rep, err
	}
}

// SimSummary is one simulation's outcome, as the profiles page shows it.
type SimSummary struct {
	RootSuccess float64             `json:"rootSuccessRate"`
	RootP99Ms   float64             `json:"rootP99Ms"`
	Resilience  float64             `json:"resilience"` // NaN-free: -1 when no profile fired
	Breached    bool                `json:"guardsBreached"`
	Profiles    map[string]*float64 `json:"profileScores"`
	Report      *sim.Report         `json:"-"`
	byID        map[string]*sim.ProfileReport
}

func summarize(r *sim.Report) *SimSummary {
	s := &SimSummary{Report: r, Profiles: map[string]*float64{}, byID: map[string]*sim.ProfileReport{}, Resilience: -1}
	res := r.Faults
	if res == nil {
		res = r.Baseline
	}
	if res != nil {
		s.RootSuccess, s.RootP99Ms = res.Root.SuccessRate, res.Root.P99Ms
	}
	if sc, n := Resilience(r.Profiles); n > 0 {
		s.Resilience = math.Round(sc*100) / 100
	}
	s.Breached = r.Guards != nil && r.Guards.Breached
	for i := range r.Profiles {
		p := &r.Profiles[i]
		s.Profiles[p.ID] = p.Score
		s.byID[p.ID] = p
	}
	return s
}

// simRow is one profile before and after.
type simRow struct {
	ID            string
	Edited        bool
	Before, After *sim.ProfileReport
}

type simView struct {
	Before, After *SimSummary
	Rows          []simRow
	Guards        *sim.GuardReport
}

// editRequest reads an EditRequest and applies it to the loaded bundle;
// on any problem it answers the request itself and returns ok false.
// needEdits refuses a request without edits.
func (s *Server) editRequest(w http.ResponseWriter, r *http.Request, needEdits bool) (req EditRequest, nb *bundle.Bundle, ok bool) {
	if s.d.Bundle == nil {
		jsonError(w, http.StatusConflict, "no bundle: start the dashboard with --bundle")
		return req, nil, false
	}
	if err := decodeBody(r, &req); err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return req, nil, false
	}
	if needEdits && len(req.Edits) == 0 {
		jsonError(w, http.StatusBadRequest, "nothing to save: edit a profile first")
		return req, nil, false
	}
	nb, _, err := ApplyEdits(s.d.Bundle.B, req.Edits)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return req, nil, false
	}
	return req, nb, true
}

func (s *Server) simulate(w http.ResponseWriter, r *http.Request) {
	req, nb, ok := s.editRequest(w, r, false)
	if !ok {
		return
	}
	if s.o.Simulate == nil {
		jsonError(w, http.StatusNotImplemented, "simulation is not available: start the dashboard with --spans FILE (the recorded traffic to replay)")
		return
	}
	if !s.simMu.TryLock() {
		jsonError(w, http.StatusConflict, "a simulation is already running; wait for it to finish")
		return
	}
	defer s.simMu.Unlock()
	before, err := s.beforeSim(r.Context())
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "simulating the bundle as it is: "+err.Error())
		return
	}
	rep, err := s.o.Simulate(r.Context(), nb)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "simulating the edited bundle: "+err.Error())
		return
	}
	after := summarize(rep)
	edited := map[string]bool{}
	for _, e := range req.Edits {
		edited[e.ID] = true
	}
	v := simView{Before: before, After: after, Guards: rep.Guards}
	for _, p := range nb.Profiles {
		v.Rows = append(v.Rows, simRow{ID: p.ID, Edited: edited[p.ID], Before: before.byID[p.ID], After: after.byID[p.ID]})
	}
	html, err := s.fragment("simresult", v)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"before": before, "after": after, "html": html})
}

// beforeSim simulates the unedited bundle once and keeps the result.
func (s *Server) beforeSim(ctx context.Context) (*SimSummary, error) {
	s.beforeMu.Lock()
	defer s.beforeMu.Unlock()
	if s.before != nil {
		return s.before, nil
	}
	rep, err := s.o.Simulate(ctx, s.d.Bundle.B)
	if err != nil {
		return nil, err
	}
	s.before = summarize(rep)
	return s.before, nil
}

func (s *Server) fragment(name string, v any) (template.HTML, error) {
	var buf bytes.Buffer
	if err := s.pages["profiles"].ExecuteTemplate(&buf, name, v); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}

// SaveResult is the answer to POST /api/save.
type SaveResult struct {
	Path    string        `json:"path"`
	SigPath string        `json:"sigPath,omitempty"`
	Digest  string        `json:"digest"`
	Signed  bool          `json:"signed"`
	Diff    string        `json:"diff"`
	HTML    template.HTML `json:"html"`
}

func (s *Server) save(w http.ResponseWriter, r *http.Request) {
	_, nb, ok := s.editRequest(w, r, true)
	if !ok {
		return
	}
	if nb.Metadata.Params == nil {
		nb.Metadata.Params = map[string]string{}
	}
	nb.Metadata.Params["editedFrom"] = "sha256:" + s.d.Bundle.Digest
	data, sig, err := bundle.EncodeSigned(nb, s.o.Signer)
	if err != nil {
		status := http.StatusInternalServerError // the key could not sign
		if errors.Is(err, bundle.ErrInvalid) {
			status = http.StatusBadRequest
		}
		jsonError(w, status, err.Error())
		return
	}
	s.saveMu.Lock()
	path, err := writeNew(s.d.Bundle.Path, data, sig)
	s.saveMu.Unlock()
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "saving: "+err.Error())
		return
	}
	diff := bundle.Compare(s.d.Bundle.B, nb)
	var text strings.Builder
	diff.WriteText(&text)
	res := SaveResult{Path: path, Digest: "sha256:" + bundle.Digest(data), Signed: sig != nil, Diff: text.String()}
	if sig != nil {
		res.SigPath = path + ".sig"
	}
	if res.HTML, err = s.fragment("saveresult", res); err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// writeNew writes data (and sig beside it, first) to a new file next to
// orig: NAME.edited.json, then NAME.edited-2.json, … Each file is written
// to a temporary name and hard-linked into place, which fails rather than
// replace an existing file, so nothing is ever overwritten.
func writeNew(orig string, data, sig []byte) (string, error) {
	dir := filepath.Dir(orig)
	base := strings.TrimSuffix(filepath.Base(orig), ".json")
	base = strings.TrimSuffix(base, ".edited")
	tmpB, err := tempWith(dir, data)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmpB)
	var tmpS string
	if sig != nil {
		if tmpS, err = tempWith(dir, sig); err != nil {
			return "", err
		}
		defer os.Remove(tmpS)
	}
	for n := 1; n < 1000; n++ {
		name := base + ".edited.json"
		if n > 1 {
			name = fmt.Sprintf("%s.edited-%d.json", base, n)
		}
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if tmpS != "" {
			if err := os.Link(tmpS, p+".sig"); err != nil {
				if os.IsExist(err) {
					continue
				}
				return "", err
			}
		} else if _, err := os.Lstat(p + ".sig"); err == nil {
			continue // a stale signature would not match
		}
		if err := os.Link(tmpB, p); err != nil {
			if tmpS != "" {
				os.Remove(p + ".sig")
			}
			if os.IsExist(err) {
				continue
			}
			return "", err
		}
		return p, nil
	}
	return "", errors.New("too many edited bundles beside " + orig)
}

func tempWith(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".chaosgen-edit-*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}
