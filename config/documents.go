package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Merchant is who issues the documents, printed on every PDF (PAYORCH_MERCHANT_NAME,
// PAYORCH_MERCHANT_ADDRESS with lines separated by "\n" or " | ", PAYORCH_MERCHANT_EMAIL,
// PAYORCH_MERCHANT_TAX_ID).
type Merchant struct {
	Name    string
	Address string
	Email   string
	TaxID   string
}

// PortalSessions configures the customer portal's signed tokens.
type PortalSessions struct {
	// Secret is the HMAC-SHA256 key that signs portal tokens (PAYORCH_PORTAL_SECRET, at
	// least 32 bytes; unset, the file PAYORCH_DATA_DIR/portal-secret that make run keeps).
	// Without either, each process draws a random one and warns: tokens then do not
	// survive a restart nor work across processes.
	Secret []byte
	// SecretGenerated says Secret was drawn at random because none was configured.
	SecretGenerated bool
	// TTL is how long a token minted by POST /v1/customers/{id}/portal-sessions lives
	// (PAYORCH_PORTAL_SESSION_TTL, default 1h).
	TTL time.Duration
	// EmailTTL is how long the portal link in an email lives (PAYORCH_PORTAL_EMAIL_LINK_TTL,
	// default 168h = 7 days).
	EmailTTL time.Duration
}

// Defaults of the document and portal-session settings.
const (
	DefaultMerchantName         = "payorch"
	DefaultPortalSessionTTL     = "1h"
	DefaultPortalEmailLinkTTL   = "168h"
	minPortalSecretBytes        = 32
	maxMerchantFieldLength      = 300
	maxPortalSessionTTL         = 24 * time.Hour
	maxPortalEmailLinkTTL       = 90 * 24 * time.Hour
	minPortalSessionTTL         = time.Minute
	portalSecretGeneratedLength = 32
)

// loadDocuments reads the merchant and portal-session variables.
func (c *Config) loadDocuments(get func(name, def string) string) error {
	c.Merchant = Merchant{
		Name:    get("PAYORCH_MERCHANT_NAME", DefaultMerchantName),
		Address: strings.ReplaceAll(strings.ReplaceAll(get("PAYORCH_MERCHANT_ADDRESS", ""), `\n`, "\n"), " | ", "\n"),
		Email:   get("PAYORCH_MERCHANT_EMAIL", ""),
		TaxID:   get("PAYORCH_MERCHANT_TAX_ID", ""),
	}
	for name, v := range map[string]string{"PAYORCH_MERCHANT_NAME": c.Merchant.Name, "PAYORCH_MERCHANT_ADDRESS": c.Merchant.Address,
		"PAYORCH_MERCHANT_EMAIL": c.Merchant.Email, "PAYORCH_MERCHANT_TAX_ID": c.Merchant.TaxID} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) || len(v) > maxMerchantFieldLength {
			return fmt.Errorf("%s: must be valid UTF-8 text of at most %d bytes", name, maxMerchantFieldLength)
		}
	}
	secret := get("PAYORCH_PORTAL_SECRET", "")
	if secret == "" {
		// make run keeps the dev stack's key here: a command started from another shell
		// (payorchctl portal …) then signs links the running API accepts.
		if b, err := os.ReadFile(filepath.Join(c.DataDir, "portal-secret")); err == nil {
			secret = strings.TrimSpace(string(b))
		}
	}
	if secret != "" {
		if len(secret) < minPortalSecretBytes {
			return fmt.Errorf("PAYORCH_PORTAL_SECRET: at least %d characters (make run generates one)", minPortalSecretBytes)
		}
		c.PortalSessions.Secret = []byte(secret)
	} else {
		b := make([]byte, portalSecretGeneratedLength)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("PAYORCH_PORTAL_SECRET: generate: %w", err)
		}
		c.PortalSessions.Secret, c.PortalSessions.SecretGenerated = []byte(hex.EncodeToString(b)), true
	}
	var err error
	if c.PortalSessions.TTL, err = ttl(get("PAYORCH_PORTAL_SESSION_TTL", DefaultPortalSessionTTL), maxPortalSessionTTL); err != nil {
		return fmt.Errorf("PAYORCH_PORTAL_SESSION_TTL: %w", err)
	}
	if c.PortalSessions.EmailTTL, err = ttl(get("PAYORCH_PORTAL_EMAIL_LINK_TTL", DefaultPortalEmailLinkTTL), maxPortalEmailLinkTTL); err != nil {
		return fmt.Errorf("PAYORCH_PORTAL_EMAIL_LINK_TTL: %w", err)
	}
	return nil
}

func ttl(v string, maxTTL time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < minPortalSessionTTL || d > maxTTL {
		return 0, fmt.Errorf("%q must be a duration from 1m to %s", v, maxTTL)
	}
	return d, nil
}
