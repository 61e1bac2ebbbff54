package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"payorch/config"
)

// unsetenv removes a variable for the test (restored afterwards).
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	os.Unsetenv(k)
}

func loadTemporalConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTemporalOptionsCloudAPIKeyAndMTLS: the Temporal client takes the SDK's environment
// configuration: an API key (Temporal Cloud: TLS on, the key as credentials), mTLS client
// certificates (self-hosted), address and namespace; PAYORCH_TEMPORAL_* win when set; the
// payload keys turn the encrypting data converter on, and a bad key stops the process.
func TestTemporalOptionsCloudAPIKeyAndMTLS(t *testing.T) {
	for _, k := range []string{"PAYORCH_TEMPORAL_ADDRESS", "PAYORCH_TEMPORAL_NAMESPACE", "PAYORCH_PAYLOAD_KEYS", "TEMPORAL_PROFILE"} {
		unsetenv(t, k)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "none.toml"))
	t.Setenv("PAYORCH_DATABASE_URL", "postgres://x@127.0.0.1:1/x")

	// Temporal Cloud with an API key.
	t.Setenv("TEMPORAL_ADDRESS", "payments.a1b2c.tmprl.cloud:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "payments.a1b2c")
	t.Setenv("TEMPORAL_API_KEY", "cloud-api-key")
	opts, cod, err := TemporalOptions(loadTemporalConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "payments.a1b2c.tmprl.cloud:7233" || opts.Namespace != "payments.a1b2c" {
		t.Fatalf("host %q namespace %q", opts.HostPort, opts.Namespace)
	}
	if opts.Credentials == nil || opts.ConnectionOptions.TLS == nil {
		t.Fatalf("API key: credentials %v, TLS %v", opts.Credentials, opts.ConnectionOptions.TLS)
	}
	if cod != nil || opts.DataConverter != nil {
		t.Fatal("a codec without PAYORCH_PAYLOAD_KEYS")
	}

	// Self-hosted with mTLS; PAYORCH_TEMPORAL_ADDRESS, when set, wins.
	unsetenv(t, "TEMPORAL_API_KEY")
	certPath, keyPath := writeClientCert(t)
	t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", certPath)
	t.Setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", keyPath)
	t.Setenv("PAYORCH_TEMPORAL_ADDRESS", "temporal.internal:7233")
	t.Setenv("PAYORCH_PAYLOAD_KEYS", "k1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	opts, cod, err = TemporalOptions(loadTemporalConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "temporal.internal:7233" || opts.Credentials != nil {
		t.Fatalf("host %q credentials %v", opts.HostPort, opts.Credentials)
	}
	if opts.ConnectionOptions.TLS == nil || len(opts.ConnectionOptions.TLS.Certificates) != 1 {
		t.Fatalf("mTLS: %+v", opts.ConnectionOptions.TLS)
	}
	if cod == nil || opts.DataConverter == nil {
		t.Fatal("PAYORCH_PAYLOAD_KEYS set but payloads are not encrypted")
	}

	// A bad key is an error naming the variable, not plaintext histories.
	t.Setenv("PAYORCH_PAYLOAD_KEYS", "k1:c2hvcnQ=")
	if _, _, err := TemporalOptions(loadTemporalConfig(t), nil); err == nil || !strings.Contains(err.Error(), "PAYORCH_PAYLOAD_KEYS") {
		t.Fatalf("bad key: %v", err)
	}
}

// writeClientCert writes a self-signed client certificate and its key as PEM files.
func writeClientCert(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "payorch-worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
