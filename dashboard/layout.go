package dashboard

import (
	"cmp"
	"math"
	"slices"
)

// Ingress is the layout name of the ingress node: the caller of root edges.
// No service can have it, since an empty callee is a bad row.
const Ingress = ""

// Layout geometry, in SVG user units.
const (
	NodeWidth  = 156.0
	NodeHeight = 26.0
	layerGap   = 120.0 // horizontal space between two layers' nodes
	rowGap     = 12.0  // vertical space between two nodes of a layer
	margin     = 24.0
)

// defaultSweeps is the number of barycenter sweeps (alternately down and up).
const defaultSweeps = 24

var sweeps = defaultSweeps // tests turn the ordering off to measure it

// LayoutEdge is an edge to lay out.
type LayoutEdge struct{ From, To string }

// Point is a point in SVG user units.
type Point struct{ X, Y float64 }

// Node is a laid-out service (or the ingress).
type Node struct {
	Name   string
	Layer  int
	Order  int // position in its layer, top to bottom
	X, Y   float64
	In     int // edges into the node
	Out    int // edges out of the node
	Ingres bool
}

// Path is a laid-out edge: a polyline through the dummy nodes of the layers
// it crosses, drawn as horizontal-tangent curves.
type Path struct {
	From, To string
	Points   []Point
	Back     bool // the edge goes against the layering (it closes a cycle)
}

// Layout is a layered drawing of the service graph.
type Layout struct {
	Nodes         []Node // sorted by name
	Paths         []Path // in the order of the edges given
	Layers        int
	Width, Height float64
	Crossings     int // edge crossings between adjacent layers after ordering
	index         map[string]int
}

// Node returns the laid-out node called name.
func (l *Layout) Node(name string) (Node, bool) {
	i, ok := l.index[name]
	if !ok {
		return Node{}, false
	}
	return l.Nodes[i], true
}

// LayoutGraph draws the graph left to right in layers, Sugiyama-style:
// cycles are broken by reversing the back edges of a depth-first search
// from the ingress; each service goes to the layer of its longest path from
// a source (so that every other edge points right); edges longer than one
// layer get a dummy node per layer they cross; nodes are ordered in each
// layer by barycenter sweeps (down and up, each followed by swaps of
// neighbours that remove crossings, keeping the order with the fewest
// crossings); and vertical positions are the least-squares fit to
// the mean of each node's neighbours under the minimum gap (isotonic
// regression). It is deterministic: ties are broken by name.
func LayoutGraph(edges []LayoutEdge) *Layout {
	names := map[string]bool{}
	for _, e := range edges {
		names[e.From], names[e.To] = true, true
	}
	sorted := slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	})
	id := make(map[string]int, len(sorted))
	for i, n := range sorted {
		id[n] = i
	}
	n := len(sorted)
	// unique edges without self-loops, as (from, to) ids
	type pair struct{ a, b int }
	seen := map[pair]bool{}
	var es []pair
	for _, e := range edges {
		p := pair{id[e.From], id[e.To]}
		if p.a != p.b && !seen[p] {
			seen[p] = true
			es = append(es, p)
		}
	}
	slices.SortFunc(es, func(x, y pair) int { return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b)) })
	succ := make([][]int, n)
	for _, e := range es {
		succ[e.a] = append(succ[e.a], e.b)
	}

	// Cycle breaking: DFS from the ingress first, then from every node in
	// name order; edges to a node on the stack are back edges.
	state := make([]int8, n) // 0 new, 1 on stack, 2 done
	back := map[pair]bool{}
	dfsOrder := make([]int, 0, n)
	var dfs func(v int)
	dfs = func(v int) {
		state[v] = 1
		dfsOrder = append(dfsOrder, v)
		for _, w := range succ[v] {
			switch state[w] {
			case 0:
				dfs(w)
			case 1:
				back[pair{v, w}] = true
			}
		}
		state[v] = 2
	}
	if i, ok := id[Ingress]; ok {
		dfs(i)
	}
	for v := range n {
		if state[v] == 0 {
			dfs(v)
		}
	}
	// Layering: longest path over the DAG (back edges reversed).
	dag := make([][]int, n)
	indeg := make([]int, n)
	for _, e := range es {
		a, b := e.a, e.b
		if back[e] {
			a, b = b, a
		}
		dag[a] = append(dag[a], b)
		indeg[b]++
	}
	layer := make([]int, n)
	queue := []int{}
	for v := range n {
		if indeg[v] == 0 {
			queue = append(queue, v)
		}
	}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range dag[v] {
			layer[w] = max(layer[w], layer[v]+1)
			if indeg[w]--; indeg[w] == 0 {
				queue = append(queue, w)
			}
		}
	}
	layers := 0
	for v := range n {
		layers = max(layers, layer[v]+1)
	}

	// Dummy nodes: vertex ids n.. for each layer an edge crosses.
	vlayer := slices.Clone(layer)
	type seg struct{ a, b int } // a in layer k, b in layer k+1
	var segs []seg
	chains := make([][]int, len(es)) // per edge: vertices from its upper end to its lower end
	for i, e := range es {
		a, b := e.a, e.b
		if back[e] {
			a, b = b, a
		}
		chain := []int{a}
		for l := layer[a] + 1; l < layer[b]; l++ {
			vlayer = append(vlayer, l)
			chain = append(chain, len(vlayer)-1)
		}
		chain = append(chain, b)
		for j := 0; j+1 < len(chain); j++ {
			segs = append(segs, seg{chain[j], chain[j+1]})
		}
		chains[i] = chain
	}
	nv := len(vlayer)
	up := make([][]int, nv)   // neighbours in the layer above
	down := make([][]int, nv) // neighbours in the layer below
	for _, s := range segs {
		down[s.a] = append(down[s.a], s.b)
		up[s.b] = append(up[s.b], s.a)
	}

	// Initial order: depth-first discovery order, dummies after their
	// upper end.
	rank := make([]float64, nv)
	for i, v := range dfsOrder {
		rank[v] = float64(i)
	}
	for _, chain := range chains {
		for j := 1; j+1 < len(chain); j++ {
			rank[chain[j]] = rank[chain[0]] + float64(j)/float64(len(chain))
		}
	}
	byLayer := make([][]int, layers)
	for v := range nv {
		byLayer[vlayer[v]] = append(byLayer[vlayer[v]], v)
	}
	pos := make([]float64, nv)
	sortLayer := func(l []int, key []float64) {
		slices.SortStableFunc(l, func(a, b int) int {
			return cmp.Or(cmp.Compare(key[a], key[b]), cmp.Compare(pos[a], pos[b]), cmp.Compare(a, b))
		})
		for i, v := range l {
			pos[v] = float64(i)
		}
	}
	for _, l := range byLayer {
		sortLayer(l, rank)
	}
	crossings := func() int {
		total := 0
		for k := 0; k+1 < layers; k++ {
			var ps [][2]int
			for _, v := range byLayer[k] {
				for _, w := range down[v] {
					ps = append(ps, [2]int{int(pos[v]), int(pos[w])})
				}
			}
			total += inversions(ps)
		}
		return total
	}
	best := crossings()
	bestPos := slices.Clone(pos)
	bary := make([]float64, nv)
	sweep := func(k int, nb [][]int) {
		for _, v := range byLayer[k] {
			if len(nb[v]) == 0 {
				bary[v] = pos[v]
				continue
			}
			s := 0.0
			for _, w := range nb[v] {
				s += pos[w]
			}
			bary[v] = s / float64(len(nb[v]))
		}
		sortLayer(byLayer[k], bary)
	}
	// cross counts the crossings between the edges of u and of v (to
	// both neighbouring layers) when u is placed just before v.
	cross := func(u, v int) int {
		c := 0
		for _, nb := range [2][][]int{up, down} {
			for _, a := range nb[u] {
				for _, b := range nb[v] {
					if pos[a] > pos[b] {
						c++
					}
				}
			}
		}
		return c
	}
	// transpose swaps neighbours of a layer while that removes crossings
	// (Gansner et al., "A technique for drawing directed graphs", 1993).
	transpose := func() {
		for improved, rounds := true, 0; improved && rounds < 16; rounds++ {
			improved = false
			for _, l := range byLayer {
				for i := 0; i+1 < len(l); i++ {
					u, v := l[i], l[i+1]
					if cross(v, u) < cross(u, v) {
						l[i], l[i+1] = v, u
						pos[u], pos[v] = float64(i+1), float64(i)
						improved = true
					}
				}
			}
		}
	}
	for iter := 0; iter < sweeps && best > 0; iter++ {
		if iter%2 == 0 {
			for k := 1; k < layers; k++ {
				sweep(k, up)
			}
		} else {
			for k := layers - 2; k >= 0; k-- {
				sweep(k, down)
			}
		}
		transpose()
		if c := crossings(); c < best {
			best, bestPos = c, slices.Clone(pos)
		}
	}
	copy(pos, bestPos)
	for _, l := range byLayer {
		sortLayer(l, pos)
	}

	// Vertical positions: start stacked and centred, then pull each node
	// toward its neighbours' mean, keeping the order and the gap.
	step := NodeHeight + rowGap
	y := make([]float64, nv)
	tallest := 0
	for _, l := range byLayer {
		tallest = max(tallest, len(l))
	}
	for _, l := range byLayer {
		off := float64(tallest-len(l)) * step / 2
		for i, v := range l {
			y[v] = off + float64(i)*step
		}
	}
	for iter := 0; iter < 8; iter++ {
		for _, l := range byLayer {
			want := make([]float64, len(l))
			for i, v := range l {
				s, c := 0.0, 0
				for _, w := range up[v] {
					s += y[w]
					c++
				}
				for _, w := range down[v] {
					s += y[w]
					c++
				}
				if c == 0 {
					want[i] = y[v]
				} else {
					want[i] = (y[v] + s) / float64(c+1)
				}
			}
			fit := isotonic(want, step)
			for i, v := range l {
				y[v] = fit[i]
			}
		}
	}
	minY := math.Inf(1)
	for v := range nv {
		minY = min(minY, y[v])
	}
	out := &Layout{Layers: layers, Crossings: best, index: map[string]int{}}
	// Spread the layers so that a tall drawing keeps a screen-like aspect
	// (16:10): the edges between two crowded layers get room to fan out.
	gap := layerGap
	if layers > 1 {
		maxY := 0.0
		for v := range nv {
			maxY = max(maxY, y[v]-minY)
		}
		want := (maxY+NodeHeight)*1.6 - float64(layers)*NodeWidth
		gap = min(max(gap, want/float64(layers-1)), 4*layerGap)
	}
	xOf := func(l int) float64 { return margin + float64(l)*(NodeWidth+gap) }
	yOf := func(v int) float64 { return margin + y[v] - minY }
	for v, name := range sorted {
		out.Nodes = append(out.Nodes, Node{Name: name, Layer: layer[v], Order: int(pos[v]), X: xOf(layer[v]), Y: yOf(v), Ingres: name == Ingress})
		out.index[name] = v
		out.Height = max(out.Height, yOf(v)+NodeHeight+margin)
	}
	out.Width = xOf(layers-1) + NodeWidth + margin
	if n == 0 {
		out.Width, out.Height = 2*margin, 2*margin
	}
	pathOf := map[pair]Path{}
	for i, e := range es {
		chain := chains[i]
		if back[e] {
			chain = slices.Clone(chain)
			slices.Reverse(chain)
		}
		p := Path{From: sorted[e.a], To: sorted[e.b], Back: back[e]}
		for j, v := range chain {
			cy := yOf(v) + NodeHeight/2
			switch {
			case j == 0 && !back[e]:
				p.Points = append(p.Points, Point{xOf(vlayer[v]) + NodeWidth, cy})
			case j == 0:
				p.Points = append(p.Points, Point{xOf(vlayer[v]), cy})
			case j == len(chain)-1 && !back[e]:
				p.Points = append(p.Points, Point{xOf(vlayer[v]), cy})
			case j == len(chain)-1:
				p.Points = append(p.Points, Point{xOf(vlayer[v]) + NodeWidth, cy})
			default:
				p.Points = append(p.Points, Point{xOf(vlayer[v]) + NodeWidth/2, cy})
			}
		}
		out.Nodes[e.a].Out++
		out.Nodes[e.b].In++
		pathOf[e] = p
	}
	for _, e := range edges {
		p, ok := pathOf[pair{id[e.From], id[e.To]}]
		if !ok { // self-loop: a small arc on the node's right side
			nd := out.Nodes[id[e.From]]
			p = Path{From: e.From, To: e.To, Points: []Point{{nd.X + NodeWidth, nd.Y + 6}, {nd.X + NodeWidth, nd.Y + NodeHeight - 6}}, Back: true}
		}
		out.Paths = append(out.Paths, p)
	}
	return out
}

// inversions counts the crossing pairs of segments between two layers,
// given as (upper position, lower position): pairs ordered one way above
// and the other way below.
func inversions(ps [][2]int) int {
	slices.SortFunc(ps, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	maxB := 0
	for _, p := range ps {
		maxB = max(maxB, p[1])
	}
	tree := make([]int, maxB+2) // Fenwick tree over lower positions
	count := 0
	for i, p := range ps {
		// segments already added with a lower position greater than p's
		le := 0
		for j := p[1] + 1; j > 0; j -= j & -j {
			le += tree[j]
		}
		count += i - le
		for j := p[1] + 1; j < len(tree); j += j & -j {
			tree[j]++
		}
	}
	return count
}

// isotonic returns the positions closest to want (least squares) that keep
// their order with at least gap between neighbours: pool-adjacent-violators
// on want[i] − i·gap.
func isotonic(want []float64, gap float64) []float64 {
	type block struct {
		sum float64
		n   int
	}
	var bs []block
	for i, w := range want {
		bs = append(bs, block{w - float64(i)*gap, 1})
		for len(bs) > 1 {
			a, b := bs[len(bs)-2], bs[len(bs)-1]
			if a.sum/float64(a.n) <= b.sum/float64(b.n) {
				break
			}
			bs = append(bs[:len(bs)-2], block{a.sum + b.sum, a.n + b.n})
		}
	}
	out := make([]float64, 0, len(want))
	for _, b := range bs {
		m := b.sum / float64(b.n)
		for range b.n {
			out = append(out, m+float64(len(out))*gap)
		}
	}
	return out
}
