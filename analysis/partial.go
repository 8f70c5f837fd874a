package analysis

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/chaosgen/chaosgen/internal/ordered"
	"github.com/klauspost/compress/zstd"
)

// PartialVersion is the version of the partial analysis format that this
// chaosgen writes and reads (docs/scale.md, "The partial file"). Version 2
// added the responses among the injected calls to each window; version 3
// writes a run of empty sketch buckets as its length (before: a 0 per
// bucket); version 4 adds the header's time range, each edge and service
// window's summary and each edge's total sketch, writes each sketch after
// its length (a merge skips the sketches of the windows no other partial
// holds), and the runs at row-group edges before the services' windows.
const PartialVersion = 4

// partialMagic starts the first line of a partial file; the version and a
// newline follow.
const partialMagic = "chaosgen.partial/v"

// maxPartialHeader bounds the JSON header line of a partial file.
const maxPartialHeader = 64 << 20

// PartialOptions control RunPartial.
type PartialOptions struct {
	Window  time.Duration // features.DefaultWindow when 0
	Workers int           // 0 means GOMAXPROCS
	// Progress and Total report the rows read (as in Options).
	Progress *atomic.Int64
	Total    func(rows int64)
	// Shard and Shards select shard Shard of Shards (0 ≤ Shard < Shards,
	// see ingest.OpenedFiles.Shard); Shards 0 reads every row group.
	Shard, Shards int
	// Store opens the inputs that are bucket URLs (as in Options).
	Store *objstore.Store
}

// PartialInfo describes a partial file written by RunPartial.
type PartialInfo struct {
	Path      string `json:"path"`
	Shard     int    `json:"shard"`
	Shards    int    `json:"shards"`
	RowGroups int    `json:"row_groups"` // row groups read
	Rows      int64  `json:"rows"`       // rows in them
	Bytes     int    `json:"bytes"`      // size of the partial file
}

// partialHeader is the JSON line after the first line of a partial file.
type partialHeader struct {
	Window  string   `json:"window"`
	Columns []string `json:"columns"`
	Digest  string   `json:"digest"` // ingest.DigestVersion of its row-group digests
	Shard   int      `json:"shard"`
	Shards  int      `json:"shards"`
	// TimeRange is the time the partial's calls cover: a merge keeps the
	// summaries of the edge and service windows that no other partial's
	// calls reach, and skips their sketches (features.DecodeOptions).
	// Start > End: no calls.
	TimeRange timeRange      `json:"time_range"`
	Inputs    []partialInput `json:"inputs"`
	// MainBytes is the size of the body's first zstd frame, the main
	// part of the accumulators' binary form; the second frame, the rest of
	// the file, is its interior part (features.AppendBinaryParts)
	MainBytes int64 `json:"main_bytes"`
	// InteriorCRC32C is the CRC-32C (Castagnoli) of the second frame's
	// bytes: a merge that needs no interior part, and so does not
	// decompress the frame and check its own checksum, still refuses a
	// damaged or cut file
	InteriorCRC32C uint32 `json:"interior_crc32c"`
}

// castagnoli is the CRC-32C table (hardware-accelerated on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// timeRange is a features.TimeRange in JSON.
type timeRange struct {
	Start int64 `json:"start_unix_nano"`
	End   int64 `json:"end_unix_nano"`
}

// partialInput is one input file as a partial saw it: all of its footer,
// and the row groups the partial read.
type partialInput struct {
	Path      string      `json:"path"`
	Bytes     int64       `json:"bytes"`
	Rows      int64       `json:"rows"`
	RowGroups int         `json:"row_groups"`
	Footer    string      `json:"footer_sha256"`
	Read      []readGroup `json:"read"`
}

// readGroup is a row group a partial read, with its digest.
type readGroup struct {
	RowGroup int    `json:"row_group"`
	SHA256   string `json:"sha256"`
}

// partial is a partial analysis in memory: its header, and its
// accumulators (written, or merged) or its compressed body (read, until
// load merges it).
type partial struct {
	name string // where it came from, for errors
	head partialHeader
	acc  *features.Partial
	body []byte
}

// shardName is "shard i/n" or "all row groups".
func (p *partial) shardName() string {
	if p.head.Shards == 0 {
		return "all row groups"
	}
	return fmt.Sprintf("shard %d/%d", p.head.Shard, p.head.Shards)
}

func columnNames(cols []ingest.Column) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c.Name())
	}
	return out
}

// scan says what accumulate reads and how.
type scan struct {
	window        time.Duration
	workers       int
	progress      *atomic.Int64
	total         func(int64) // told the rows to read, when not nil
	shard, shards int         // shards 0: every row group
	whole         bool        // no merge follows (features.Options.Whole)
	edgesOnly     bool        // no models follow (features.Options.EdgesOnly)
}

// accumulate reads the row groups of the inputs named by args that the
// scan's shard selects (all when shards is 0) into a partial, with their
// digests. URL inputs are opened through store, or a store of its own when
// nil.
func accumulate(ctx context.Context, store *objstore.Store, args []string, sc scan) (*partial, error) {
	if store == nil {
		store = objstore.New(ctx)
		defer store.Close()
	}
	if sc.window == 0 {
		sc.window = features.DefaultWindow
	}
	paths, err := resolveInputs(store, args)
	if err != nil {
		return nil, err
	}
	files, err := ingest.OpenWith(paths, opener(store))
	if err != nil {
		return nil, err
	}
	defer files.Close()
	groups := files.RowGroups()
	if sc.shards > 0 {
		groups = files.Shard(sc.shard, sc.shards)
	}
	if sc.total != nil {
		sc.total(files.NumRows(groups))
	}
	// The scan hashes the chunks it reads (ingest.RowGroupDigest): the
	// digests come after it without reading the inputs again.
	acc, err := features.Accumulate(ctx, files, features.Options{Window: sc.window, Workers: sc.workers, Progress: sc.progress, RowGroups: groups,
		Whole: sc.whole, EdgesOnly: sc.edgesOnly})
	if err != nil {
		return nil, err
	}
	digests, err := files.RowGroupDigests(ctx, groups, acc.Columns(), sc.workers)
	if err != nil {
		return nil, err
	}
	tr := acc.TimeRange()
	p := &partial{acc: acc, head: partialHeader{Window: sc.window.String(), Columns: columnNames(acc.Columns()), Digest: ingest.DigestVersion,
		Shard: sc.shard, Shards: sc.shards, TimeRange: timeRange{tr.Start, tr.End}}}
	for i, f := range files.Files {
		footer, err := files.FooterDigest(i)
		if err != nil {
			return nil, err
		}
		p.head.Inputs = append(p.head.Inputs, partialInput{Path: f.Path, Bytes: f.Size, Rows: f.Rows, RowGroups: f.RowGroups,
			Footer: hex.EncodeToString(footer[:]), Read: []readGroup{}})
	}
	for i, g := range groups {
		in := &p.head.Inputs[g.File]
		in.Read = append(in.Read, readGroup{RowGroup: g.Index, SHA256: hex.EncodeToString(digests[i][:])})
	}
	return p, nil
}

// RunPartial reads the inputs named by args (shard opt.Shard of
// opt.Shards, or all) and writes their accumulators to the partial file
// out, atomically: a local file, or an object (a bucket URL) uploaded
// whole once written (objstore.Store.WriteFile), so no half-written
// partial is ever seen under its name. Merge turns partials into an
// analysis.
func RunPartial(ctx context.Context, args []string, out string, opt PartialOptions) (*PartialInfo, error) {
	if opt.Shards < 0 || opt.Shards > 0 && (opt.Shard < 0 || opt.Shard >= opt.Shards) {
		return nil, fmt.Errorf("shard %d/%d: want 0 ≤ i < n", opt.Shard, opt.Shards)
	}
	store := opt.Store
	if store == nil {
		store = objstore.New(ctx)
		defer store.Close()
	}
	info := &PartialInfo{Path: objstore.Name(out), Shard: opt.Shard, Shards: opt.Shards}
	err := store.WriteFile(out, func(path string) error {
		p, err := accumulate(ctx, store, args, scan{window: opt.Window, workers: opt.Workers, progress: opt.Progress, total: opt.Total, shard: opt.Shard, shards: opt.Shards})
		if err != nil {
			return err
		}
		b, err := p.encode()
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(path, b); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		info.Rows, info.Bytes = p.acc.Rows()+p.acc.Bad().Total(), len(b)
		for _, in := range p.head.Inputs {
			info.RowGroups += len(in.Read)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return info, nil
}

// encode returns the partial file's bytes: the first line names the format
// and its version, the second is the JSON header, the rest is two zstd
// frames (each with its checksum) of the two parts of the accumulators'
// binary form, the main part's frame main_bytes long.
func (p *partial) encode() ([]byte, error) {
	main, interior, err := p.acc.AppendBinaryParts(nil, nil)
	if err != nil {
		return nil, err
	}
	// zstd's fastest level: the body (varints, mostly sketch counts)
	// compresses about 2:1 at any level; the whole 40M-span day's body of
	// 19.0 MB took 80 ms to 8.96 MB at this level, 118 ms to 8.83 MB at
	// the default and 297 ms to 8.70 MB at the next, and decodes in 20-24
	// ms whichever wrote it
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	defer zw.Close()
	body := zw.EncodeAll(main, nil)
	head := p.head
	head.MainBytes = int64(len(body))
	body = zw.EncodeAll(interior, body)
	head.InteriorCRC32C = crc32.Checksum(body[head.MainBytes:], castagnoli)
	line, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	out := fmt.Appendf(make([]byte, 0, len(line)+len(body)+64), "%s%d\n", partialMagic, PartialVersion)
	out = append(append(out, line...), '\n')
	return append(out, body...), nil
}

// readPartial reads a partial file or object and decodes its header (load
// decodes the rest).
func readPartial(store *objstore.Store, name string) (*partial, error) {
	b, err := store.ReadFile(name)
	if err != nil {
		return nil, err
	}
	p, err := decodePartial(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.name = name
	return p, nil
}

// ErrPartialVersion marks a partial file of another format version.
var ErrPartialVersion = errors.New("partial analysis of another format version")

func decodePartial(b []byte) (*partial, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	line, err := r.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte(partialMagic)) {
		head := b[:min(len(b), 24)]
		return nil, fmt.Errorf("not a chaosgen partial analysis (it starts with %q; write one with: chaosgen analyze --partial -o PART SPANS...)", head)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(line[len(partialMagic):])))
	if err != nil {
		return nil, fmt.Errorf("not a chaosgen partial analysis: bad version in %q", strings.TrimSpace(string(line)))
	}
	if v < PartialVersion {
		return nil, fmt.Errorf("%w: format version %d, this chaosgen reads version %d (written by an older chaosgen: write the partials again with this one, or merge them with the one that wrote them)", ErrPartialVersion, v, PartialVersion)
	}
	if v > PartialVersion {
		return nil, fmt.Errorf("%w: format version %d, this chaosgen reads version %d (written by a newer chaosgen: merge it with that one)", ErrPartialVersion, v, PartialVersion)
	}
	off := len(line)
	end := bytes.IndexByte(b[off:min(len(b), off+maxPartialHeader)], '\n')
	if end < 0 {
		return nil, fmt.Errorf("partial header: no end of line within %d bytes", maxPartialHeader)
	}
	p := &partial{}
	dec := json.NewDecoder(bytes.NewReader(b[off : off+end]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p.head); err != nil {
		return nil, fmt.Errorf("partial header: %w", err)
	}
	p.body = b[off+end+1:]
	if p.head.MainBytes < 0 || p.head.MainBytes > int64(len(p.body)) {
		return nil, fmt.Errorf("partial header: main_bytes %d, the body has %d", p.head.MainBytes, len(p.body))
	}
	for i, in := range p.head.Inputs {
		if _, err := digestOf(in.Footer); err != nil {
			return nil, fmt.Errorf("partial header: input %d: footer digest: %w", i, err)
		}
		for _, g := range in.Read {
			if _, err := digestOf(g.SHA256); err != nil {
				return nil, fmt.Errorf("partial header: %s: row group %d: %w", in.Path, g.RowGroup, err)
			}
			if g.RowGroup < 0 || g.RowGroup >= in.RowGroups {
				return nil, fmt.Errorf("partial header: %s: row group %d of %d", in.Path, g.RowGroup, in.RowGroups)
			}
		}
	}
	return p, nil
}

// load merges the partial's body into acc (renumbering its files by to),
// or decodes it into acc when acc is nil, as opt says; bufs are scratch
// space for the uncompressed parts, returned for the next load. The
// interior part is decompressed only when the decoding needs it.
func (p *partial) load(zr *zstd.Decoder, acc **features.Partial, to []int, bufs [2][]byte, opt features.DecodeOptions) ([2][]byte, error) {
	if c := crc32.Checksum(p.body[p.head.MainBytes:], castagnoli); c != p.head.InteriorCRC32C {
		return bufs, fmt.Errorf("%s: partial body: the interior frame's CRC-32C is %08x, the header says %08x: the file is damaged or cut short", p.name, c, p.head.InteriorCRC32C)
	}
	main, err := zr.DecodeAll(p.body[:p.head.MainBytes], bufs[0][:0])
	if err != nil {
		return bufs, fmt.Errorf("%s: partial body: %w", p.name, err)
	}
	bufs[0] = main
	interior := func() ([]byte, error) {
		b, err := zr.DecodeAll(p.body[p.head.MainBytes:], bufs[1][:0])
		if err != nil {
			return nil, fmt.Errorf("%s: partial body: %w", p.name, err)
		}
		bufs[1] = b
		return b, nil
	}
	if *acc != nil {
		if err := (*acc).MergeParts(main, interior, to, opt); err != nil {
			return bufs, fmt.Errorf("%s: partial body: %w", p.name, err)
		}
		p.body = nil
		return bufs, nil
	}
	a, err := features.DecodePartialParts(main, interior, opt)
	if err != nil {
		return bufs, fmt.Errorf("%s: partial body: %w", p.name, err)
	}
	if w := a.Window().String(); w != p.head.Window {
		return bufs, fmt.Errorf("%s: partial body: window %s, header says %s", p.name, w, p.head.Window)
	}
	if err := a.RemapFiles(to); err != nil {
		return bufs, fmt.Errorf("%s: %w", p.name, err)
	}
	*acc, p.body = a, nil
	return bufs, nil
}

func digestOf(s string) ([32]byte, error) {
	var d [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return d, fmt.Errorf("want 64 hex digits, got %q", s)
	}
	copy(d[:], b)
	return d, nil
}

// mergePartials merges partials of disjoint row groups into one that read
// every row group of the union of their inputs (sorted by path, as Inputs
// sorts them). It refuses partials of other options or of other versions
// of an input, a row group read twice and one read by none.
func mergePartials(parts []*partial) (*partial, error) {
	if len(parts) == 0 {
		return nil, errors.New("no partial analyses to merge")
	}
	first := parts[0]
	cols := strings.Join(columnNames(features.Columns), ",")
	for _, p := range parts {
		if c := strings.Join(p.head.Columns, ","); c != cols {
			return nil, fmt.Errorf("%s read the columns %s, this chaosgen reads %s: merge partials written by one chaosgen version", p.name, c, cols)
		}
		if p.head.Digest != ingest.DigestVersion {
			return nil, fmt.Errorf("%s holds input digests of the kind %q, this chaosgen computes %q: write the partials again with one chaosgen version", p.name, p.head.Digest, ingest.DigestVersion)
		}
		if p.head.Window != first.head.Window {
			return nil, fmt.Errorf("%s has window %s, %s has %s: partials merge only when written with the same --window", p.name, p.head.Window, first.name, first.head.Window)
		}
	}
	// the union of the inputs, each checked to be one version of the file
	type seen struct {
		in    partialInput
		from  string
		owner []string // per row group: the partial that read it
		by    []*partial
	}
	files := map[string]*seen{}
	for _, p := range parts {
		for _, in := range p.head.Inputs {
			s := files[in.Path]
			if s == nil {
				s = &seen{in: in, from: p.name, owner: make([]string, in.RowGroups), by: make([]*partial, in.RowGroups)}
				s.in.Read = nil
				files[in.Path] = s
			} else if in.Bytes != s.in.Bytes || in.Rows != s.in.Rows || in.RowGroups != s.in.RowGroups || in.Footer != s.in.Footer {
				return nil, fmt.Errorf("%s differs between %s and %s (%d and %d bytes, footer digests %.12s… and %.12s…): the file changed between the runs",
					in.Path, s.from, p.name, s.in.Bytes, in.Bytes, s.in.Footer, in.Footer)
			}
			for _, g := range in.Read {
				if o := s.by[g.RowGroup]; o != nil {
					return nil, fmt.Errorf("row group %d of %s is in both %s (%s) and %s (%s): each row group must be read by exactly one partial",
						g.RowGroup, in.Path, o.name, o.shardName(), p.name, p.shardName())
				}
				s.by[g.RowGroup], s.owner[g.RowGroup] = p, g.SHA256
			}
		}
	}
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range files {
			if !yield(p) {
				return
			}
		}
	})
	out := &partial{name: "merge", head: partialHeader{Window: first.head.Window, Columns: first.head.Columns, Digest: first.head.Digest}}
	var missing []string
	for _, path := range paths {
		s := files[path]
		in := s.in
		in.Read = make([]readGroup, 0, in.RowGroups)
		var gaps []int
		for rg, d := range s.owner {
			if s.by[rg] == nil {
				gaps = append(gaps, rg)
				continue
			}
			in.Read = append(in.Read, readGroup{RowGroup: rg, SHA256: d})
		}
		if len(gaps) > 0 {
			missing = append(missing, fmt.Sprintf("%s row group(s) %s", path, ranges(gaps)))
		}
		out.head.Inputs = append(out.head.Inputs, in)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no partial read %s%s", strings.Join(missing, ", "), missingShards(parts))
	}
	index := map[string]int{}
	for i, p := range paths {
		index[p] = i
	}
	// The first partial is decoded, the others merged into it as they are
	// decoded (features.Partial.MergeBinary): the memory of the merge is
	// that of the merged accumulators and one partial's uncompressed body.
	// Every partial's body has the window of its header, the first's.
	zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(8<<30))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var bufs [2][]byte
	for i, p := range parts {
		to := make([]int, len(p.head.Inputs))
		for i, in := range p.head.Inputs {
			to[i] = index[in.Path]
		}
		if bufs, err = p.load(zr, &out.acc, to, bufs, summarise(parts, i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// summarise returns how parts[i] is decoded in a merge of parts, which
// only makes a table of them: its edge and service windows that no other
// partial's calls reach are summarised.
func summarise(parts []*partial, i int) features.DecodeOptions {
	r := parts[i].head.TimeRange
	opt := features.DecodeOptions{Summarise: true, Want: features.TimeRange{Start: r.Start, End: r.End}}
	for j, p := range parts {
		if j != i {
			opt.Others = append(opt.Others, features.TimeRange{Start: p.head.TimeRange.Start, End: p.head.TimeRange.End})
		}
	}
	return opt
}

// missingShards names the shards absent from a set of partials that all
// split the same inputs into the same number of shards, else "".
func missingShards(parts []*partial) string {
	n := parts[0].head.Shards
	have := map[int]bool{}
	for _, p := range parts {
		if p.head.Shards != n || n == 0 {
			return ""
		}
		have[p.head.Shard] = true
	}
	var gone []string
	for i := range n {
		if !have[i] {
			gone = append(gone, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(gone) == 0 {
		return ""
	}
	return fmt.Sprintf(" (missing: the partial of shard %s)", strings.Join(gone, ", "))
}

// ranges formats sorted integers as "1, 3-5".
func ranges(xs []int) string {
	var parts []string
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(xs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", xs[i], xs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// inputs returns the summary's inputs of a partial that read every row
// group of its files, with their digests (ingest.FileDigest) over the
// columns its accumulators were read with.
func (p *partial) inputs() ([]Input, int64, error) {
	var out []Input
	var rows int64
	for _, in := range p.head.Inputs {
		footer, err := digestOf(in.Footer)
		if err != nil {
			return nil, 0, err
		}
		if len(in.Read) != in.RowGroups {
			return nil, 0, fmt.Errorf("%s: %d of %d row groups read", in.Path, len(in.Read), in.RowGroups)
		}
		ds := make([][32]byte, len(in.Read))
		for i, g := range in.Read {
			if g.RowGroup != i {
				return nil, 0, fmt.Errorf("%s: row group %d read in place of %d", in.Path, g.RowGroup, i)
			}
			if ds[i], err = digestOf(g.SHA256); err != nil {
				return nil, 0, err
			}
		}
		d := ingest.FileDigest(p.acc.Columns(), footer, ds)
		out = append(out, Input{Path: in.Path, SHA256: hex.EncodeToString(d[:]), Rows: in.Rows, Bytes: in.Bytes})
		rows += in.Rows
	}
	return out, rows, nil
}

// PartialExt is the extension of partial files that Merge looks for in a
// directory.
const PartialExt = ".part"

// partialNames resolves Merge's arguments: a directory stands for the
// *.part files in it (sorted), a bucket prefix for the *.part objects
// under it (objstore.Store.ListExt), anything else for itself.
func partialNames(store *objstore.Store, args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if objstore.IsURL(a) {
			names, err := store.ListExt(a, PartialExt)
			if err != nil {
				return nil, err
			}
			out = append(out, names...)
			continue
		}
		fi, err := os.Stat(a)
		if err != nil || !fi.IsDir() {
			out = append(out, a)
			continue
		}
		es, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, e := range es {
			if !e.IsDir() && strings.HasSuffix(e.Name(), PartialExt) && !strings.HasPrefix(e.Name(), ".") {
				out = append(out, filepath.Join(a, e.Name()))
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("directory %s holds no %s files", a, PartialExt)
		}
	}
	return out, nil
}

// Merge merges the partial analyses named by args (files, directories of
// *.part files, bucket URLs of objects or of prefixes of *.part objects;
// in any order) and writes the analysis of all their row groups to dir, as
// Run would have written it for the same inputs. URLs are read through
// opt.Store, or a store of its own when nil.
func Merge(ctx context.Context, args []string, dir string, opt Options) (*Summary, error) {
	store := opt.Store
	if store == nil {
		store = objstore.New(ctx)
		defer store.Close()
	}
	names, err := partialNames(store, args)
	if err != nil {
		return nil, err
	}
	// read a few at a time: from a bucket each is a request's round trip
	parts, err := ordered.Do(len(names), ingest.OpenConcurrency, func(i int) (*partial, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return readPartial(store, names[i])
	})
	if err != nil {
		return nil, err
	}
	m, err := mergePartials(parts)
	if err != nil {
		return nil, err
	}
	w := m.acc.Window()
	if opt.Window != 0 && opt.Window != w {
		return nil, fmt.Errorf("the partials have window %s, not %s", w, opt.Window)
	}
	if !opt.NoModels && opt.Models.Horizon != 0 && opt.Models.Horizon < w {
		return nil, fmt.Errorf("--horizon must be at least one window (%s), got %s", w, opt.Models.Horizon)
	}
	return writeAnalysis(m, dir, opt)
}
