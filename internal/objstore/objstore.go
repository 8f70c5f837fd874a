// Package objstore reads span files from object storage (s3://, gs:// and
// azblob:// URLs, through gocloud.dev/blob) with ranged requests, and
// writes output directories to a bucket prefix.
//
// A URL names one object (s3://bucket/day/spans.parquet) or a prefix
// (s3://bucket/day/, or a key that is no object but has objects under it):
// a prefix stands for every .parquet object under it, sorted by key, the
// way a local directory does. The URL's query configures the bucket
// (gocloud's parameters, e.g. ?endpoint=http://127.0.0.1:7070&use_path_style=true
// for an S3-compatible server, ?region=eu-west-1); it is not part of the
// objects' names. Credentials come from each cloud's standard environment
// and files: AWS_* variables and ~/.aws for S3 (AWS_ENDPOINT_URL or
// AWS_ENDPOINT_URL_S3 also set the endpoint), GOOGLE_APPLICATION_CREDENTIALS
// or the gcloud default credentials for GCS (STORAGE_EMULATOR_HOST points
// gs:// at an emulator, without credentials), and AZURE_STORAGE_ACCOUNT with
// AZURE_STORAGE_KEY, a SAS token or the default Azure credential for Azure.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/gcsblob"   // gs://
	_ "gocloud.dev/blob/s3blob"    // s3://
	"gocloud.dev/gcerrors"
)

// gcsMaxAttempts is how many times a GCS request is made before its
// error is returned: with the client's backoff (1 s, doubling, jittered)
// a request that keeps failing gives up after about 8 s (at most 15 s).
const gcsMaxAttempts = 5

// Schemes are the URL schemes of object storage.
var Schemes = []string{"s3", "gs", "azblob"}

// ErrNotFound marks a bucket or object that does not exist.
var ErrNotFound = errors.New("not found")

// ErrDenied marks a request that the store refused for the credentials.
var ErrDenied = errors.New("access denied")

// IsURL reports whether s names object storage (s3://, gs:// or azblob://).
func IsURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	return ok && slices.Contains(Schemes, scheme)
}

// location is a parsed URL: the bucket to open (scheme, name and query)
// and the key or prefix inside it.
type location struct {
	bucketURL string // scheme://bucket?query
	base      string // scheme://bucket, no query: names start with it
	key       string
}

func parse(raw string) (location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return location{}, fmt.Errorf("%s: %w", raw, err)
	}
	if !slices.Contains(Schemes, u.Scheme) || u.Host == "" {
		return location{}, fmt.Errorf("%s: want %s://BUCKET/KEY", raw, strings.Join(Schemes, ":// or "))
	}
	base := u.Scheme + "://" + u.Host
	q := u.Query()
	if u.Scheme == "s3" && !q.Has(checksumParam) {
		// a ranged read cannot check the object's checksum, and the SDK
		// would log that it did not to stderr on every request
		q.Set(checksumParam, "when_required")
	}
	bu := base
	if len(q) > 0 {
		bu += "?" + q.Encode()
	}
	return location{bucketURL: bu, base: base, key: strings.TrimPrefix(u.Path, "/")}, nil
}

// checksumParam is gocloud's s3blob query parameter for the SDK's
// checking of response checksums.
const checksumParam = "response_checksum_validation"

func (l location) name(key string) string { return l.base + "/" + key }

// scheme returns the URL's scheme: s3, gs or azblob.
func (l location) scheme() string { scheme, _, _ := strings.Cut(l.base, "://"); return scheme }

// isPrefix reports whether key names a prefix (the bucket's root, or a key
// ending in "/") rather than an object.
func isPrefix(key string) bool { return key == "" || strings.HasSuffix(key, "/") }

// Store opens buckets once and keeps the readers of the objects it opened
// (ranged, by Open, and whole, by OpenFile) and the sizes of the objects it
// uploaded, so that what it moved can be reported (WriteReport). It is
// safe for concurrent use.
type Store struct {
	ctx     context.Context
	mu      sync.Mutex
	buckets map[string]*blob.Bucket // by bucketURL
	objects map[string]object       // by name, from List
	readers []*Reader
	streams []*streamReader
	uploads []Upload
}

type object struct {
	bucketURL, key string
}

// New returns a Store whose requests run under ctx.
func New(ctx context.Context) *Store {
	return &Store{ctx: ctx, buckets: map[string]*blob.Bucket{}, objects: map[string]object{}}
}

// Close closes the buckets.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(s.buckets)) {
		errs = append(errs, s.buckets[k].Close())
	}
	clear(s.buckets)
	return errors.Join(errs...)
}

func (s *Store) bucket(l location) (*blob.Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.buckets[l.bucketURL]; ok {
		return b, nil
	}
	b, err := blob.OpenBucket(s.ctx, l.bucketURL)
	if err != nil {
		return nil, fmt.Errorf("opening bucket %s: %w", l.base, err)
	}
	// The GCS client retries a failed request until its context ends: a
	// bucket or token endpoint that cannot be reached (a pod without
	// egress) would hang the run instead of failing it. The S3 and Azure
	// clients stop after a few attempts; so does this one now.
	var gcs *storage.Client
	if b.As(&gcs) {
		gcs.SetRetry(storage.WithMaxAttempts(gcsMaxAttempts))
	}
	s.buckets[l.bucketURL] = b
	return b, nil
}

// storeError turns a store error into one that names what was asked for and
// says what to check: a missing bucket, a missing object, or credentials
// the store refused.
func storeError(ctx context.Context, b *blob.Bucket, l location, what string, err error) error {
	refused := func() error {
		return fmt.Errorf("%s: %w (check the credentials: %s): %v", what, ErrDenied, credentialHint(l.base), err)
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		if ok, aerr := b.IsAccessible(ctx); aerr == nil && !ok {
			return fmt.Errorf("%s: bucket %s %w", what, l.base, ErrNotFound)
		}
		return fmt.Errorf("%s: object %w", what, ErrNotFound)
	case gcerrors.PermissionDenied:
		return refused()
	}
	if msg := err.Error(); strings.Contains(msg, "get credentials") || strings.Contains(msg, "could not find default credentials") {
		return fmt.Errorf("%s: %w: no credentials found (set %s): %v", what, ErrDenied, credentialHint(l.base), err)
	}
	if refusedCredentials(err) {
		return refused()
	}
	return fmt.Errorf("%s: %w", what, err)
}

// refusedCredentials tells the errors of credentials the store or its
// token endpoint refused, which gocloud reports as Unknown: on S3 a wrong
// secret, an unknown key id or an expired token; on GCS a key file whose
// private key does not parse, or a key the token endpoint refused (a
// deleted or disabled service account key: "invalid_grant"), so that no
// request reached the store. A token endpoint that cannot be reached is a
// network failure, not the credentials', and is not one of them.
func refusedCredentials(err error) bool {
	msg := err.Error()
	codes := []string{"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidClientTokenId", "AuthorizationHeaderMalformed", "ExpiredToken",
		"private key should be a PEM"}
	if strings.Contains(msg, "oauth2:") {
		codes = append(codes, "invalid_grant", "invalid_client", "unauthorized_client")
	}
	for _, code := range codes {
		if strings.Contains(msg, code) {
			return true
		}
	}
	return false
}

func credentialHint(base string) string {
	switch {
	case strings.HasPrefix(base, "s3://"):
		return "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials"
	case strings.HasPrefix(base, "gs://"):
		return "GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default login"
	}
	return "AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or the default Azure credential"
}

// List resolves a URL to the names of the objects it stands for: the
// object itself, or every .parquet object under the prefix (names starting
// with "." and keys under such a folder are skipped), sorted by key. A URL
// that names nothing is an error naming it.
func (s *Store) List(raw string) ([]string, error) { return s.ListExt(raw, ".parquet") }

// ListExt is List for a prefix's objects whose keys end in ext (such as
// ".part"); a URL naming one object stands for it whatever its name.
func (s *Store) ListExt(raw, ext string) ([]string, error) {
	l, err := parse(raw)
	if err != nil {
		return nil, err
	}
	b, err := s.bucket(l)
	if err != nil {
		return nil, err
	}
	if !isPrefix(l.key) {
		_, err := b.Attributes(s.ctx, l.key)
		if err == nil {
			return []string{s.remember(l, l.key)}, nil
		}
		if gcerrors.Code(err) != gcerrors.NotFound {
			return nil, storeError(s.ctx, b, l, l.name(l.key), err)
		}
		// no such object: a prefix, as a directory name without the slash
		names, lerr := s.listPrefix(b, l, l.key+"/", ext, l.name(l.key))
		if lerr != nil || len(names) > 0 {
			return names, lerr
		}
		return nil, storeError(s.ctx, b, l, l.name(l.key), err)
	}
	names, err := s.listPrefix(b, l, l.key, ext, l.name(l.key))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no %s objects under the prefix", l.name(l.key), ext)
	}
	return names, nil
}

// listPrefix lists the objects under prefix whose keys end in ext; errors
// name what.
func (s *Store) listPrefix(b *blob.Bucket, l location, prefix, ext, what string) ([]string, error) {
	var names []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(s.ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, storeError(s.ctx, b, l, what, err)
		}
		rel := strings.TrimPrefix(obj.Key, prefix)
		if obj.IsDir || !strings.HasSuffix(obj.Key, ext) || hidden(rel) {
			continue
		}
		names = append(names, s.remember(l, obj.Key))
	}
	slices.Sort(names)
	return names, nil
}

// hidden reports whether a relative key has a part starting with ".", as
// a local directory walk skips hidden files and folders.
func hidden(rel string) bool {
	for part := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}

func (s *Store) remember(l location, key string) string {
	name := l.name(key)
	s.mu.Lock()
	s.objects[name] = object{bucketURL: l.bucketURL, key: key}
	s.mu.Unlock()
	return name
}

// lookup returns the bucket and key of a name that List returned, or
// parses name as a URL.
func (s *Store) lookup(name string) (*blob.Bucket, location, string, error) {
	s.mu.Lock()
	o, ok := s.objects[name]
	s.mu.Unlock()
	if ok {
		l, err := parse(o.bucketURL)
		if err != nil {
			return nil, location{}, "", err
		}
		b, err := s.bucket(l)
		return b, l, o.key, err
	}
	l, err := parse(name)
	if err != nil {
		return nil, location{}, "", err
	}
	b, err := s.bucket(l)
	return b, l, l.key, err
}
