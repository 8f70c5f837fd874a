package objstore

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// readerOptions pin a ranged read to the object that Open saw: on S3 the
// request carries If-Match with its ETag, so an object replaced while
// analyze reads it (a writer re-uploading the day's file) fails the read
// with 412 Precondition Failed instead of mixing the old footer with the
// new object's bytes. GCS and Azure reads are not pinned yet.
func (r *Reader) readerOptions() *blob.ReaderOptions {
	if r.etag == "" {
		return nil
	}
	return &blob.ReaderOptions{BeforeRead: func(as func(any) bool) error {
		var in *s3.GetObjectInput
		if as(&in) {
			in.IfMatch = aws.String(r.etag)
		}
		return nil
	}}
}
