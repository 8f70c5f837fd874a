package objstore

import (
	"fmt"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// A pin names the version of an object that Open saw, so that every ranged
// read of it reads that version or fails: an object replaced while analyze
// reads it (a writer uploading the day's file again) must not mix the old
// footer with the new object's bytes.
//
//   - S3: the ETag, sent as If-Match; a replaced object fails the read
//     with 412 Precondition Failed.
//   - GCS: the generation (a number GCS gives each version of an object),
//     sent as the read's generation parameter. A replaced object's old
//     generation is gone (404) unless the bucket keeps noncurrent versions
//     (object versioning), where the read returns the old version's bytes,
//     which is as consistent.
//   - Azure: the ETag, sent as If-Match in the download's access
//     conditions (the SDK's own multi-block downloads pin so); a replaced
//     blob fails the read with 412 ConditionNotMet.
type pin struct {
	etag       string
	generation int64 // GCS; 0 elsewhere
}

// pinOf returns the pin of an object from its attributes (the metadata
// request of Open).
func pinOf(scheme string, attrs *blob.Attributes) pin {
	p := pin{etag: attrs.ETag}
	var oa storage.ObjectAttrs
	if scheme == "gs" && attrs.As(&oa) {
		p.generation = oa.Generation
	}
	return p
}

// String says what the pin holds, for errors.
func (p pin) String() string {
	if p.generation != 0 {
		return fmt.Sprintf("generation %d", p.generation)
	}
	return "ETag " + p.etag
}

// readerOptions pin a ranged read to the object that Open saw (see pin).
// A read that cannot be pinned (the driver offered none of the request
// types above, as after a change of gocloud's drivers) fails rather than
// going unpinned.
func (r *Reader) readerOptions() *blob.ReaderOptions {
	p := r.pin
	if p.etag == "" && p.generation == 0 {
		return nil
	}
	return &blob.ReaderOptions{BeforeRead: func(as func(any) bool) error {
		var s3in *s3.GetObjectInput
		if p.etag != "" && as(&s3in) {
			s3in.IfMatch = aws.String(p.etag)
			return nil
		}
		// gcsblob offers its handle before it makes the request; asking
		// for *storage.Reader would make it
		var oh **storage.ObjectHandle
		if p.generation != 0 && as(&oh) {
			*oh = (*oh).Generation(p.generation)
			return nil
		}
		var az *azblobblob.DownloadStreamOptions
		if p.etag != "" && as(&az) {
			etag := azcore.ETag(p.etag)
			if az.AccessConditions == nil {
				az.AccessConditions = &azblobblob.AccessConditions{}
			}
			if az.AccessConditions.ModifiedAccessConditions == nil {
				az.AccessConditions.ModifiedAccessConditions = &azblobblob.ModifiedAccessConditions{}
			}
			az.AccessConditions.ModifiedAccessConditions.IfMatch = &etag
			return nil
		}
		return fmt.Errorf("%s: the store's driver offers no way to pin the read to %s", r.name, p)
	}}
}
