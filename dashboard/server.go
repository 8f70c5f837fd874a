package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/chaosgen/chaosgen/internal/edge"

	"golang.org/x/crypto/ssh"
)

//go:embed assets
var assets embed.FS

// TokenHeader carries the per-run token on state-changing requests.
const TokenHeader = "X-Chaosgen-Token"

// csp is the Content-Security-Policy of every dashboard response: scripts
// and styles only from the dashboard itself, no framing, no plugins.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServerOptions configure a Server.
type ServerOptions struct {
	// LoopbackOnly refuses requests from non-loopback clients; set it when
	// the listener is bound to loopback.
	LoopbackOnly bool
	// AllowedHosts are the host names, besides loopback names, that
	// requests may name in Host and Origin: the names other machines reach
	// the dashboard by. A request naming any other Host is refused before
	// a page (and its token) is served, which stops DNS rebinding. An entry
	// is a name ("dash.internal", any port) or a name and port
	// ("dash.internal:8080").
	AllowedHosts []string
	// Signer signs saved bundles; nil: they are saved unsigned. The key
	// stays in the server.
	Signer ssh.Signer
	// Simulate replays a bundle; nil: simulation is unavailable (501).
	Simulate Simulator
	// Injector is a live injector's admin API; nil: no scenarios view.
	Injector *InjectorClient
	// Token is the per-run token; empty: a random one.
	Token string
}

// Server serves the dashboard. Its handlers are methods on the results
// computed before serving (Data); the only state that changes is the cache
// of the unedited bundle's simulation and the files saved.
type Server struct {
	d     *Data
	o     ServerOptions
	pages map[string]*template.Template
	token string

	simMu    sync.Mutex // one simulation at a time
	beforeMu sync.Mutex
	before   *SimSummary
	saveMu   sync.Mutex
	staticFS fs.FS
}

// NewServer parses the templates and prepares the handlers.
func NewServer(d *Data, o ServerOptions) (*Server, error) {
	s := &Server{d: d, o: o, token: o.Token}
	if s.token == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		s.token = hex.EncodeToString(b)
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if s.staticFS, err = fs.Sub(assets, "assets/static"); err != nil {
		return nil, err
	}
	return s, nil
}

// Token returns the per-run token embedded in the pages.
func (s *Server) Token() string { return s.token }

// pageNames are the dashboard views, each a template file.
var pageNames = []string{"overview", "graph", "edge", "profiles", "scenarios", "notfound"}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(assets, "assets/templates/base.html", "assets/templates/parts.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range append(slicesClone(pageNames), "report") {
		t, err := template.Must(base.Clone()).ParseFS(assets, "assets/templates/"+n+".html")
		if err != nil {
			return nil, err
		}
		pages[n] = t
	}
	return pages, nil
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// Handler returns the dashboard's routes behind its security checks.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /graph", s.graph)
	mux.HandleFunc("GET /edge", s.edge)
	mux.HandleFunc("GET /profiles", s.profiles)
	mux.HandleFunc("GET /scenarios", s.scenarios)
	mux.HandleFunc("GET /static/{file}", s.static)
	mux.HandleFunc("GET /api/injector/status", s.injectorStatus)
	mux.HandleFunc("POST /api/simulate", s.post(s.simulate))
	mux.HandleFunc("POST /api/save", s.post(s.save))
	mux.HandleFunc("POST /api/injector/scenario", s.post(s.addScenario))
	mux.HandleFunc("POST /api/injector/kill", s.post(s.kill))
	mux.HandleFunc("POST /api/injector/resume", s.post(s.resume))
	mux.HandleFunc("/", s.notFound)
	return s.secure(mux)
}

// secure sets the security headers and, with LoopbackOnly, refuses
// clients that are not on this machine and requests whose Host is not a
// loopback name.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		refuse := httpError
		if strings.HasPrefix(r.URL.Path, "/api/") {
			refuse = jsonError
		}
		if s.o.LoopbackOnly && !loopbackAddr(r.RemoteAddr) {
			refuse(w, http.StatusForbidden, "the dashboard is bound to loopback and serves this machine only")
			return
		}
		if !s.allowedHost(r.Host, "") {
			msg := "unexpected Host " + r.Host + ": open the dashboard at its loopback address"
			if len(s.o.AllowedHosts) > 0 {
				msg += " or at " + strings.Join(s.o.AllowedHosts, ", ")
			}
			refuse(w, http.StatusMisdirectedRequest, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost reports whether hostport (a Host header, or an Origin's
// host) names this dashboard: a loopback name, or an AllowedHosts entry.
// With port set (the port the request came in on, for Origin checks), a
// loopback name must carry that port, so that another web server on this
// machine is another origin. An entry with a port matches only that port.
func (s *Server) allowedHost(hostport, port string) bool {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h, p = hostport, ""
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if loopbackHost(h) {
		return port == "" || p == port
	}
	for _, a := range s.o.AllowedHosts {
		ah, ap, err := net.SplitHostPort(a)
		if err != nil {
			ah, ap = a, ""
		}
		if strings.EqualFold(h, ah) && (ap == "" || ap == p) {
			return true
		}
	}
	return false
}

// allowedOrigin reports whether an Origin header names this dashboard: an
// http or https origin whose host is allowed (allowedHost) with the port
// the request arrived on. A request without the local address (not from
// net/http's server) has no port to compare and is refused.
func (s *Server) allowedOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		return false
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	_, port, err := net.SplitHostPort(local.String())
	if err != nil {
		return false
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	return s.allowedHost(hostport, port)
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// post wraps a state-changing handler: it needs the per-run token, a JSON
// body, and a request from the dashboard's own origin (CSRF).
func (s *Server) post(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
			jsonError(w, http.StatusForbidden, "cross-site request refused (Sec-Fetch-Site: "+site+")")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !s.allowedOrigin(r, o) {
			jsonError(w, http.StatusForbidden, "request from another origin refused: "+o)
			return
		}
		got := r.Header.Get(TokenHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			jsonError(w, http.StatusForbidden, "missing or wrong "+TokenHeader+": reload the page")
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			jsonError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		h(w, r)
	}
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	if dec.More() {
		return errors.New("reading the request: data after the JSON object")
	}
	return nil
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// page is what every view template gets.
type page struct {
	Title    string
	Tab      string
	Token    string
	Static   bool // the HTML report: no server, no forms
	D        *Data
	Injector bool
	V        any // the view's own data
}

func (s *Server) render(w http.ResponseWriter, code int, name string, p page) {
	p.Token, p.D, p.Injector = s.token, s.d, s.o.Injector != nil
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "page", p); err != nil {
		httpError(w, http.StatusInternalServerError, "rendering "+name+": "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	v := s.d.overviewView(func(e *Edge) string { return edgeURL(e.Key) })
	if s.o.Injector != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		v.Live, v.LiveErr = s.o.Injector.Status(ctx)
	}
	s.render(w, http.StatusOK, "overview", page{Title: "Overview", Tab: "overview", V: v})
}

func (s *Server) graph(w http.ResponseWriter, r *http.Request) {
	svg := s.d.graphSVG(graphStyle{link: func(e *Edge) string { return edgeURL(e.Key) }})
	s.render(w, http.StatusOK, "graph", page{Title: "Service graph", Tab: "graph", V: graphView{SVG: svg, Layout: s.d.Layout,
		AnomalyScale: scaleLegend("anomaly 0", "1"), ResilienceScale: scaleLegend("resilience 100", "0"), HasResilience: s.d.Replay != nil}})
}

func (s *Server) edge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("callee") {
		s.render(w, http.StatusBadRequest, "notfound", page{Title: "Bad request", V: "An edge page needs ?caller=…&callee=… (caller empty for the ingress)."})
		return
	}
	e := s.d.Edge(q.Get("caller"), q.Get("callee"))
	if e == nil {
		s.render(w, http.StatusNotFound, "notfound", page{Title: "Unknown edge", V: "There is no edge " + edge.Edge{Caller: q.Get("caller"), Callee: q.Get("callee")}.String() + " in this analysis."})
		return
	}
	s.render(w, http.StatusOK, "edge", page{Title: e.Key.String(), Tab: "graph", V: s.d.edgeView(e, chartWidth)})
}

func (s *Server) profiles(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "profiles", page{Title: "Profiles", Tab: "profiles", V: s.d.profilesView(s.o.Signer != nil, s.o.Simulate != nil)})
}

// postPaths are the routes that take only POST.
var postPaths = map[string]bool{"/api/simulate": true, "/api/save": true, "/api/injector/scenario": true,
	"/api/injector/kill": true, "/api/injector/resume": true}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if postPaths[r.URL.Path] {
		w.Header().Set("Allow", http.MethodPost)
		jsonError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": only POST")
		return
	}
	s.render(w, http.StatusNotFound, "notfound", page{Title: "Not found", V: "There is no page " + r.URL.Path + "."})
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	data, err := fs.ReadFile(s.staticFS, name)
	if err != nil || path.Base(name) != name {
		httpError(w, http.StatusNotFound, "no such asset")
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(data)
}

func edgeURL(k edge.Edge) string {
	return "/edge?" + "caller=" + queryEscape(k.Caller) + "&callee=" + queryEscape(k.Callee)
}
