// Package ids generates payorch's public identifiers: a type prefix and 24 random
// base32 characters ("cus_3k9…"), unguessable and safe in URLs.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// Prefixes of every resource type.
const (
	Customer        = "cus"
	PaymentMethod   = "pmt"
	Wallet          = "wal"
	WalletTx        = "wtx"
	Subscription    = "sub"
	Invoice         = "inv"
	Transaction     = "txn"
	WebhookEndpoint = "whe"
	Event           = "evt"
	Load            = "lod"
	CreditNote      = "crn"
	Receipt         = "rcp"
	Usage           = "usg"
	Charge          = "sim"
)

var enc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// New returns a new id with the given prefix.
func New(prefix string) string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return prefix + "_" + enc.EncodeToString(b[:])
}

// HasPrefix reports whether id looks like an id of the given type.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	return ok && len(rest) > 0 && len(rest) <= 64
}
