package dashboard

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/chaosgen/chaosgen/synth"
)

// checkLayout asserts the invariants of a layered drawing: every edge not
// closing a cycle points right, nodes of a layer do not overlap, and the
// drawing holds every node.
func checkLayout(t *testing.T, edges []LayoutEdge, l *Layout) {
	t.Helper()
	names := map[string]bool{}
	for _, e := range edges {
		names[e.From], names[e.To] = true, true
	}
	if len(l.Nodes) != len(names) {
		t.Fatalf("%d nodes, want %d", len(l.Nodes), len(names))
	}
	if len(l.Paths) != len(edges) {
		t.Fatalf("%d paths, want %d", len(l.Paths), len(edges))
	}
	for i, p := range l.Paths {
		a, _ := l.Node(edges[i].From)
		b, _ := l.Node(edges[i].To)
		if p.From != edges[i].From || p.To != edges[i].To {
			t.Errorf("path %d is %s->%s, want %v", i, p.From, p.To, edges[i])
		}
		if !p.Back && a.Layer >= b.Layer {
			t.Errorf("edge %s->%s goes from layer %d to %d", a.Name, b.Name, a.Layer, b.Layer)
		}
		if len(p.Points) < 2 {
			t.Errorf("edge %v has %d points", edges[i], len(p.Points))
		}
		if !p.Back && len(p.Points) != b.Layer-a.Layer+1 {
			t.Errorf("edge %s->%s over %d layers has %d points (one dummy per layer crossed)", a.Name, b.Name, b.Layer-a.Layer, len(p.Points))
		}
	}
	byLayer := map[int][]Node{}
	for _, n := range l.Nodes {
		if n.X < 0 || n.Y < 0 || n.X+NodeWidth > l.Width || n.Y+NodeHeight > l.Height {
			t.Errorf("node %q at (%g, %g) outside %gx%g", n.Name, n.X, n.Y, l.Width, l.Height)
		}
		byLayer[n.Layer] = append(byLayer[n.Layer], n)
	}
	for layer, ns := range byLayer {
		for i := range ns {
			for j := range ns {
				if i != j && ns[i].Order < ns[j].Order && ns[j].Y-ns[i].Y < NodeHeight+rowGap-1e-6 {
					t.Errorf("layer %d: %q (order %d, y %g) and %q (order %d, y %g) overlap", layer, ns[i].Name, ns[i].Order, ns[i].Y, ns[j].Name, ns[j].Order, ns[j].Y)
				}
			}
		}
	}
}

func TestLayoutSmall(t *testing.T) {
	tests := []struct {
		name      string
		edges     []LayoutEdge
		layers    int
		crossings int
		back      int
	}{
		{"chain", []LayoutEdge{{"", "a"}, {"a", "b"}, {"b", "c"}}, 4, 0, 0},
		{"diamond", []LayoutEdge{{"", "a"}, {"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}}, 4, 0, 0},
		{"long edge", []LayoutEdge{{"", "a"}, {"a", "b"}, {"b", "c"}, {"a", "c"}, {"", "c"}}, 4, 0, 0},
		{"cycle", []LayoutEdge{{"", "a"}, {"a", "b"}, {"b", "c"}, {"c", "a"}}, 4, 0, 1},
		{"self loop", []LayoutEdge{{"", "a"}, {"a", "a"}}, 2, 0, 1},
		// a crossing the initial order has and barycenter ordering removes
		{"untangle", []LayoutEdge{{"", "a"}, {"", "b"}, {"a", "y"}, {"b", "x"}, {"a", "z"}}, 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := LayoutGraph(tt.edges)
			checkLayout(t, tt.edges, l)
			if l.Layers != tt.layers || l.Crossings != tt.crossings {
				t.Errorf("%d layers, %d crossings; want %d, %d", l.Layers, l.Crossings, tt.layers, tt.crossings)
			}
			back := 0
			for _, p := range l.Paths {
				if p.Back {
					back++
				}
			}
			if back != tt.back {
				t.Errorf("%d back edges, want %d", back, tt.back)
			}
			if in, _ := l.Node(Ingress); in.Layer != 0 || !in.Ingres {
				t.Errorf("ingress %+v", in)
			}
		})
	}
}

func TestInversions(t *testing.T) {
	tests := []struct {
		ps   [][2]int
		want int
	}{
		{nil, 0},
		{[][2]int{{0, 0}, {1, 1}}, 0},
		{[][2]int{{0, 1}, {1, 0}}, 1},
		{[][2]int{{0, 2}, {1, 1}, {2, 0}}, 3},
		{[][2]int{{0, 0}, {0, 1}, {1, 0}}, 1}, // shared ends do not cross
	}
	for _, tt := range tests {
		if got := inversions(tt.ps); got != tt.want {
			t.Errorf("inversions(%v) = %d, want %d", tt.ps, got, tt.want)
		}
	}
	// against the quadratic definition on random segments
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		ps := make([][2]int, r.IntN(40))
		for i := range ps {
			ps[i] = [2]int{r.IntN(8), r.IntN(8)}
		}
		want := 0
		for i := range ps {
			for j := range ps {
				if ps[i][0] < ps[j][0] && ps[i][1] > ps[j][1] {
					want++
				}
			}
		}
		if got := inversions(append([][2]int(nil), ps...)); got != want {
			t.Fatalf("inversions(%v) = %d, want %d", ps, got, want)
		}
	}
}

func TestIsotonic(t *testing.T) {
	got := isotonic([]float64{10, 0, 100}, 5)
	want := []float64{2.5, 7.5, 100} // 10 and 0 pooled around their mean, kept 5 apart
	if !reflect.DeepEqual(got, want) {
		t.Errorf("isotonic = %v, want %v", got, want)
	}
	if got := isotonic([]float64{0, 50, 100}, 5); !reflect.DeepEqual(got, []float64{0, 50, 100}) {
		t.Errorf("already spaced: %v", got)
	}
}

// TestLayout200 lays out the graph of a synthetic mesh of 200 services.
func TestLayout200(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes 4M spans")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "spans.parquet")
	ctx := context.Background()
	if _, err := synth.Generate(ctx, path, synth.Options{Days: 0.05, RPS: 20, Services: 200, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := analysis.Run(ctx, []string{path}, filepath.Join(dir, "analysis"), analysis.Options{NoModels: true}); err != nil {
		t.Fatal(err)
	}
	rows, err := analysis.ReadParquet[analysis.EdgeRow](filepath.Join(dir, "analysis", analysis.EdgesFile))
	if err != nil {
		t.Fatal(err)
	}
	var edges []LayoutEdge
	for _, r := range rows {
		edges = append(edges, LayoutEdge{r.Caller, r.Callee})
	}
	l := LayoutGraph(edges)
	checkLayout(t, edges, l)
	if len(l.Nodes) != 201 {
		t.Errorf("%d nodes, want 200 services and the ingress", len(l.Nodes))
	}
	initial := initialCrossings(edges)
	t.Logf("%d edges, %d layers, %d crossings (%d in the initial order), %gx%g", len(edges), l.Layers, l.Crossings, initial, l.Width, l.Height)
	// measured: 1894 of 2989 (the initial order is depth-first, already
	// fair); many crossings of a random mesh cannot be avoided
	if float64(l.Crossings) > 0.7*float64(initial) {
		t.Errorf("ordering left %d crossings of %d: want at most 70%%", l.Crossings, initial)
	}
	// deterministic, whatever the order of the edges
	shuffled := append([]LayoutEdge(nil), edges...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	l2 := LayoutGraph(shuffled)
	if !reflect.DeepEqual(l.Nodes, l2.Nodes) || l.Crossings != l2.Crossings {
		t.Error("the layout depends on the order of the edges")
	}
	// the rendered graph holds every node and edge
	d := &Data{Layout: l, edges: map[edge.Edge]*Edge{}}
	for _, r := range rows {
		e := &Edge{Key: edge.Edge{Caller: r.Caller, Callee: r.Callee}, Row: r}
		d.Edges = append(d.Edges, e)
	}
	svg := string(d.graphSVG(graphStyle{}))
	if n := strings.Count(svg, `data-name=`); n != 201 {
		t.Errorf("%d nodes drawn", n)
	}
	if n := strings.Count(svg, `<path class="edge`); n != len(rows) {
		t.Errorf("%d edges drawn, want %d", n, len(rows))
	}
}

// initialCrossings counts the crossings of the layout before ordering, by
// laying out with the sweeps turned off.
func initialCrossings(edges []LayoutEdge) int {
	sweeps = 0
	defer func() { sweeps = defaultSweeps }()
	return LayoutGraph(edges).Crossings
}
