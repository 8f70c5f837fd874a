package objstore_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/chaosgen/chaosgen/internal/testchild"
)

// TestGCSCredentialErrors: Google credentials that cannot be turned into an
// access token fail the run with an error that names the object, instead
// of hanging it. No request reaches Google: the key does not parse, or its
// token endpoint (the key file's token_uri) is a closed port on this
// machine. A key that does not parse is refused as credentials; a token
// endpoint that cannot be reached is a network failure, said as such,
// after the client's few attempts. (A key that Google's token endpoint
// refuses, "invalid_grant", is refused as credentials too; the
// fake-gcs-server emulator checks no credentials, so that case is not run
// here.)
func TestGCSCredentialErrors(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	goodPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/token"
	ln.Close()
	cases := []struct {
		name, key string
		denied    bool
		want      []string
	}{
		{"malformed private key", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", true,
			[]string{"gs://spans/day/a.parquet: access denied", "GOOGLE_APPLICATION_CREDENTIALS"}},
		{"token endpoint unreachable", goodPEM, false,
			[]string{"gs://spans/day/a.parquet", "oauth2: cannot fetch token", "connection refused"}},
	}
	// The client reads the credentials once per process (gcsblob's
	// default opener), so each case runs in a child process of its own.
	if i, err := strconv.Atoi(os.Getenv(gcsCaseEnv)); err == nil {
		c := cases[i]
		st := objstore.New(t.Context())
		defer st.Close()
		_, err = st.Open("gs://spans/day/a.parquet")
		if err == nil {
			t.Fatal("no error")
		}
		t.Logf("%v", err)
		if errors.Is(err, objstore.ErrDenied) != c.denied {
			t.Errorf("%v: access denied %v, want %v", err, errors.Is(err, objstore.ErrDenied), c.denied)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v\nwant it to contain %q", err, w)
			}
		}
		return
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			creds, err := json.Marshal(map[string]string{
				"type": "service_account", "project_id": "p", "private_key_id": "k",
				"private_key": c.key, "client_email": "chaosgen@p.iam.gserviceaccount.com", "token_uri": closed,
			})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "key.json")
			if err := os.WriteFile(path, creds, 0o600); err != nil {
				t.Fatal(err)
			}
			// a client that retried without end would hang here: a minute
			// is the bound (the client gives up after about 8 s)
			if _, err := testchild.Run(t, time.Minute, gcsCaseEnv+"="+strconv.Itoa(i), "STORAGE_EMULATOR_HOST=", "GOOGLE_APPLICATION_CREDENTIALS="+path); err != nil {
				t.Errorf("the child failed: %v", err)
			}
		})
	}
}

// gcsCaseEnv selects the case a child of TestGCSCredentialErrors runs.
const gcsCaseEnv = "OBJSTORE_GCS_CREDENTIAL_CASE"
