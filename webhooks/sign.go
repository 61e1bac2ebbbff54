package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Standard Webhooks headers of every delivery.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// secretPrefix starts every signing secret; the rest is the base64 of the HMAC key.
const secretPrefix = "whsec_"

// secretBytes is the length of a signing key (the spec asks for 24 to 64 bytes).
const secretBytes = 32

// NewSecret returns a new signing secret: "whsec_" and the base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Sign returns the webhook-signature header value for a message: one "v1,<base64
// HMAC-SHA256 of id.timestamp.body>" per secret, space-separated, in the order given (the
// current secret first, then a rotated-out one still in its overlap).
func Sign(msgID string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("webhook signature: no secret")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if !strings.HasPrefix(s, secretPrefix) {
			return "", fmt.Errorf("webhook signature: secret does not start with %s", secretPrefix)
		}
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return "", fmt.Errorf("webhook signature: %w", err)
		}
		sig, err := wh.Sign(msgID, ts, body)
		if err != nil {
			return "", fmt.Errorf("webhook signature: %w", err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}
