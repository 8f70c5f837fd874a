package features

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
)

// FuzzDecodePartial: partial files come from buckets and other machines,
// so any bytes must decode to an error or to a partial, never a panic or a
// huge allocation; what decodes encodes to a form that decodes and encodes
// to itself, and merging it into another partial fails cleanly or gives
// what merging the decoded partial gives; a merge's summarising decode
// (DecodeOptions.Summarise) fails cleanly or gives a table.
func FuzzDecodePartial(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	dir := f.TempDir()
	spans := genSpans(r, 300)
	paths := []string{writeSpans(f, dir, "a.parquet", spans[:len(spans)/2], 90), writeSpans(f, dir, "b.parquet", spans[len(spans)/2:], 70)}
	of, err := ingest.Open(paths)
	if err != nil {
		f.Fatal(err)
	}
	defer of.Close()
	var forms [][]byte
	for i := range 3 {
		p, err := Accumulate(context.Background(), of, Options{RowGroups: of.Shard(i, 3)})
		if err != nil {
			f.Fatal(err)
		}
		b, err := p.AppendBinary(nil)
		if err != nil {
			f.Fatal(err)
		}
		forms = append(forms, b)
		f.Add(b)
	}
	empty, _ := newPartial(DefaultWindow).AppendBinary(nil)
	f.Add(empty)
	base := forms[0]
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePartial(b)
		if err == nil {
			// varints may be longer than they need: the encoder's form,
			// not every accepted form, is the canonical one
			again, err := p.AppendBinary(nil)
			if err != nil {
				t.Fatalf("a decoded partial does not encode: %v", err)
			}
			q, err := DecodePartial(again)
			if err != nil {
				t.Fatalf("the encoding of a decoded partial does not decode: %v", err)
			}
			if third, _ := q.AppendBinary(nil); !bytes.Equal(third, again) {
				t.Fatalf("encoded, decoded and encoded again, %d bytes become %d", len(again), len(third))
			}
			// as a merge decodes it: the summaries trusted, never a panic
			if main, interior, err := splitBinary(b); err == nil {
				if s, err := DecodePartialParts(main, interior, DecodeOptions{Summarise: true, Want: p.TimeRange()}); err == nil {
					s.Table()
				}
			}
		}
		into, err := DecodePartial(base)
		if err != nil {
			t.Fatal(err)
		}
		if merr := into.MergeBinary(b, nil); merr != nil || err != nil || p.Window() != into.Window() {
			return
		}
		// merged straight from the bytes, as merged from the decoded partial
		want, err := DecodePartial(base)
		if err != nil {
			t.Fatal(err)
		}
		if err := want.Merge(p); err != nil {
			return
		}
		got, _ := into.AppendBinary(nil)
		exp, _ := want.AppendBinary(nil)
		if !bytes.Equal(got, exp) {
			t.Fatal("MergeBinary and Merge of the decoded partial differ")
		}
	})
}
