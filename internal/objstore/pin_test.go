package objstore

import (
	"context"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"gocloud.dev/blob"
)

// TestAzurePinReachesTheDriver runs a pinned read through gocloud's real
// azureblob driver up to its request: the download options the driver
// sends carry If-Match with the ETag Open saw. There is no Azure server
// here (Azurite needs Node packages that cannot be installed), so the
// request itself is cancelled before it is sent; S3 and GCS pins are
// tested against real servers (objstore_test.go).
func TestAzurePinReachesTheDriver(t *testing.T) {
	t.Setenv("AZURE_STORAGE_ACCOUNT", "devstoreaccount1")
	t.Setenv("AZURE_STORAGE_KEY", "Zm9yLXRoZS10ZXN0LW9ubHk=")
	for _, k := range []string{"AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_DOMAIN"} {
		t.Setenv(k, "")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b, err := blob.OpenBucket(ctx, "azblob://spans?protocol=http&domain=127.0.0.1:9&localemu=true")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const etag = `"0x8DCE5F1D0F2A3B4"`
	r := &Reader{ctx: ctx, b: b, name: "azblob://spans/day/a.parquet", key: "day/a.parquet", pin: pin{etag: etag}}
	opts := r.readerOptions()
	pinIt := opts.BeforeRead
	var sent *azcore.ETag
	opts.BeforeRead = func(as func(any) bool) error {
		if err := pinIt(as); err != nil {
			return err
		}
		var az *azblobblob.DownloadStreamOptions
		if as(&az) && az.AccessConditions != nil && az.AccessConditions.ModifiedAccessConditions != nil {
			sent = az.AccessConditions.ModifiedAccessConditions.IfMatch
		}
		cancel() // no server: stop before the request
		return nil
	}
	_, err = b.NewRangeReader(ctx, r.key, 100, 200, opts)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read: %v, want the cancelled request", err)
	}
	if sent == nil || string(*sent) != etag {
		t.Errorf("If-Match sent: %v, want %s", sent, etag)
	}
}
