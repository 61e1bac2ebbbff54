package webhooks

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// The published test vector of the Standard Webhooks libraries (go/webhook_test.go,
// python/tests/test_webhooks.py: TestWebhookSign / test_sign_function).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesPublishedVector(t *testing.T) {
	got, err := Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload), vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSignature {
		t.Fatalf("signature %q, want %q", got, vectorSignature)
	}
	// The same, checked with the algorithm written out independently.
	r := received{Body: []byte(vectorPayload), Header: map[string][]string{}}
	r.Header.Set(HeaderID, vectorID)
	r.Header.Set(HeaderTimestamp, "1614265330")
	r.Header.Set(HeaderSignature, got)
	if ok := verifyHMAC(t, r, vectorSecret); len(ok) != 1 || !ok[0] {
		t.Fatalf("independent HMAC does not match: %v", ok)
	}
	// A changed byte of the payload changes the signature.
	other, _ := Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(`{"test": 2432232315}`), vectorSecret)
	if other == vectorSignature {
		t.Fatal("signature does not depend on the payload")
	}
}

func TestSignSeveralSecrets(t *testing.T) {
	newS, _ := NewSecret()
	got, err := Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload), newS, vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(got, " ")
	if len(parts) != 2 || parts[1] != vectorSignature || !strings.HasPrefix(parts[0], "v1,") || parts[0] == parts[1] {
		t.Fatalf("header %q: want the new secret's signature then the old one's", got)
	}
	if _, err := Sign(vectorID, time.Unix(vectorTimestamp, 0), nil); err == nil {
		t.Fatal("signing without a secret must fail")
	}
	if _, err := Sign(vectorID, time.Unix(vectorTimestamp, 0), nil, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); err == nil {
		t.Fatal("a secret without whsec_ must be refused")
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("secrets %q %q", a, b)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if err != nil || len(key) != 32 {
		t.Fatalf("key of %q: %d bytes, %v", a, len(key), err)
	}
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	d := &Dispatcher{FirstRetry: 30 * time.Second, MaxRetryDelay: 6 * time.Hour, Jitter: func() float64 { return 0.5 }}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute}
	for i, w := range want {
		if got := d.backoff(int32(i + 1)); got != w {
			t.Fatalf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := d.backoff(30); got != 6*time.Hour {
		t.Fatalf("backoff(30) = %s, want the 6h cap", got)
	}
	d.Jitter = func() float64 { return 0 }
	if got := d.backoff(1); got != 22500*time.Millisecond {
		t.Fatalf("lowest jitter: %s", got)
	}
	d.Jitter = func() float64 { return 0.999999 }
	if got := d.backoff(1); got < 37*time.Second || got >= 37500*time.Millisecond {
		t.Fatalf("highest jitter: %s", got)
	}
}
