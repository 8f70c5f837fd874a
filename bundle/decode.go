package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Decode parses a bundle strictly and validates it. It rejects what
// encoding/json lets pass: unknown fields, keys in another case, duplicate
// keys, null values, numbers that do not fit their field, and anything after
// the bundle object. Every error wraps ErrInvalid and names the profile and
// the field at fault.
//
// Decode does not check expiry: call CheckExpiry with the current time. It
// does not check a signature either: verify the bytes first (VerifyFile).
func Decode(data []byte) (*Bundle, error) {
	if err := checkShape(data); err != nil {
		return nil, locate(data, err)
	}
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		// checkShape accepted the document, so this is unexpected; still an
		// invalid bundle rather than a crash.
		return nil, fieldErr("", "%v", err)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &b, nil
}

// shapeError is a problem found by checkShape at a JSON path.
type shapeError struct {
	path []string // keys and array indexes from the root
	msg  string
}

func (e *shapeError) Error() string { return strings.Join(e.path, ".") + ": " + e.msg }

// checkShape walks the JSON tokens of data alongside the Bundle type and
// reports the first value that does not fit.
func checkShape(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, reflect.TypeFor[Bundle](), nil); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return &shapeError{msg: "unexpected data after the bundle object"}
	}
	return nil
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	fieldsByType = map[reflect.Type]map[string]reflect.Type{}
)

// jsonFields maps the JSON keys of a struct type to the field types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldsByType[t]; ok {
		return m
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = f.Type
		}
	}
	fieldsByType[t] = m
	return m
}

func init() {
	// Fill the cache up front so that Decode is safe for concurrent use.
	var fill func(t reflect.Type)
	fill = func(t reflect.Type) {
		switch t.Kind() {
		case reflect.Struct:
			if t == timeType {
				return
			}
			for _, ft := range jsonFields(t) {
				fill(ft)
			}
		case reflect.Slice, reflect.Map:
			fill(t.Elem())
		}
	}
	fill(reflect.TypeFor[Bundle]())
}

func walk(dec *json.Decoder, t reflect.Type, path []string) error {
	fail := func(format string, args ...any) error {
		return &shapeError{path: path, msg: fmt.Sprintf(format, args...)}
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fail("malformed JSON: %v", err)
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch {
		case tok == '{' && t.Kind() == reflect.Struct && t != timeType:
			fields := jsonFields(t)
			return walkObject(dec, path, func(key string) (reflect.Type, error) {
				ft, ok := fields[key]
				if !ok {
					return nil, fmt.Errorf("unknown field %q", key)
				}
				return ft, nil
			})
		case tok == '{' && t.Kind() == reflect.Map:
			return walkObject(dec, path, func(key string) (reflect.Type, error) {
				if key == "" {
					return nil, errors.New("empty key")
				}
				return t.Elem(), nil
			})
		case tok == '[' && t.Kind() == reflect.Slice:
			for i := 0; dec.More(); i++ {
				if err := walk(dec, t.Elem(), append(path, strconv.Itoa(i))); err != nil {
					return err
				}
			}
			_, err := dec.Token()
			if err != nil {
				return fail("malformed JSON: %v", err)
			}
			return nil
		}
		return fail("got a JSON %s, want %s", delimName(tok), typeName(t))
	case nil:
		return fail("null is not allowed, want %s", typeName(t))
	case string:
		switch {
		case t == timeType:
			if _, err := time.Parse(time.RFC3339Nano, tok); err != nil {
				return fail("%q is not an RFC 3339 time", tok)
			}
			return nil
		case t.Kind() == reflect.String:
			return nil
		}
		return fail("got a JSON string, want %s", typeName(t))
	case bool:
		if t.Kind() == reflect.Bool {
			return nil
		}
		return fail("got a JSON boolean, want %s", typeName(t))
	case json.Number:
		s := string(tok)
		switch t.Kind() {
		case reflect.Int, reflect.Int64:
			if _, err := strconv.ParseInt(s, 10, t.Bits()); err != nil {
				return fail("%s is not an integer in range", s)
			}
			return nil
		case reflect.Uint64:
			if _, err := strconv.ParseUint(s, 10, t.Bits()); err != nil {
				return fail("%s is not a non-negative integer in range", s)
			}
			return nil
		case reflect.Float64:
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return fail("%s is out of range", s)
			}
			return nil
		}
		return fail("got a JSON number, want %s", typeName(t))
	}
	return fail("unexpected token %v", tok)
}

func walkObject(dec *json.Decoder, path []string, field func(string) (reflect.Type, error)) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return &shapeError{path: path, msg: fmt.Sprintf("malformed JSON: %v", err)}
		}
		key := tok.(string) // the decoder guarantees a string in key position
		if seen[key] {
			return &shapeError{path: path, msg: fmt.Sprintf("duplicate key %q", key)}
		}
		seen[key] = true
		ft, err := field(key)
		if err != nil {
			return &shapeError{path: path, msg: err.Error()}
		}
		if err := walk(dec, ft, append(path, key)); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return &shapeError{path: path, msg: fmt.Sprintf("malformed JSON: %v", err)}
	}
	return nil
}

func delimName(d json.Delim) string {
	if d == '{' {
		return "object"
	}
	return "array"
}

func typeName(t reflect.Type) string {
	switch {
	case t == timeType:
		return "an RFC 3339 time string"
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return "an object"
	case t.Kind() == reflect.Slice:
		return "an array"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Uint64:
		return "a non-negative integer"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "an integer"
	}
	return t.String()
}

// locate turns a shapeError into an *Error that names the profile by its id
// when the document lets us read it.
func locate(data []byte, err error) error {
	var se *shapeError
	if !errors.As(err, &se) {
		return fieldErr("", "%v", err)
	}
	p := se.path
	if len(p) >= 2 && p[0] == "profiles" {
		i, _ := strconv.Atoi(p[1])
		return profileErr(i, profileID(data, i), strings.Join(p[2:], "."), "%s", se.msg)
	}
	return fieldErr(strings.Join(p, "."), "%s", se.msg)
}

// profileID returns the id of profile i if the document is readable enough
// to find it, or "".
func profileID(data []byte, i int) string {
	var doc struct {
		Profiles []map[string]json.RawMessage `json:"profiles"`
	}
	if json.Unmarshal(data, &doc) != nil || i >= len(doc.Profiles) {
		return ""
	}
	var id string
	if json.Unmarshal(doc.Profiles[i]["id"], &id) != nil {
		return ""
	}
	return id
}
