package webhooks

import (
	"net/netip"
	"testing"

	"payorch/apperr"
)

// TestPublicAddressEmbeddedIPv4: an IPv6 address that carries an IPv4 address (NAT64,
// 6to4, Teredo, IPv4-compatible or -mapped) is judged by that IPv4 address, and the
// reserved IPv4 ranges are not public.
func TestPublicAddressEmbeddedIPv4(t *testing.T) {
	for addr, want := range map[string]bool{
		// IPv4 ranges that IsGlobalUnicast calls global.
		"0.1.2.3": false, "240.0.0.1": false, "250.1.2.3": false, "198.18.0.1": false, "198.19.255.254": false,
		"192.0.2.10": false, "198.51.100.1": false, "203.0.113.5": false, "192.0.0.8": false, "198.20.0.1": true,
		// NAT64 well-known prefix: the last 32 bits are the IPv4 destination.
		"64:ff9b::7f00:1": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b::a00:1": false, "64:ff9b::808:808": true,
		"64:ff9b:1::808:808": false, // local-use NAT64: inside the operator's network
		// 6to4: bits 16..47.
		"2002:7f00:1::1": false, "2002:a9fe:a9fe::": false, "2002:c0a8:101::1": false, "2002:808:808::1": true,
		// IPv4-compatible and IPv4-mapped.
		"::127.0.0.1": false, "::10.0.0.1": false, "::8.8.8.8": true, "::ffff:0:7f00:1": false, "::ffff:0:808:808": true, "::ffff:169.254.169.254": false, "::ffff:198.18.0.1": false,
		// Teredo: server 2001:0:<server>::, client = last 32 bits inverted.
		"2001:0:4136:e378:8000:63bf:80ff:fffe": false, // client 127.0.0.1
		"2001:0:4136:e378:8000:63bf:f5ff:fefe": false, // client 10.0.1.1
		"2001:0:4136:e378:8000:63bf:f7f7:f7f7": true,  // client 8.8.8.8, server 65.54.227.120
		"2001:0:7f00:1:8000:63bf:f7f7:f7f7":    false, // server 127.0.0.1
		// Other IPv6 ranges that are not public.
		"2001:db8::1": false, "100::1": false, "fec0::1": false, "2606:4700::1111": true,
	} {
		if got := PublicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestValidateURLAtRegistration: user info, invalid ports, other schemes and (unless
// private networks are allowed) literal non-public addresses are refused when an endpoint
// is registered.
func TestValidateURLAtRegistration(t *testing.T) {
	for _, c := range []struct {
		url          string
		allowPrivate bool
		code         string // "" accepted
	}{
		{"https://merchant.example/hooks", false, ""},
		{"https://merchant.example:8443/hooks", false, ""},
		{"http://93.184.216.34/hooks", false, ""},
		{"https://user:pass@merchant.example/hooks", false, "url_invalid"},
		{"https://user@merchant.example/hooks", false, "url_invalid"},
		{"https://merchant.example:99999/hooks", false, "url_invalid"},
		{"https://merchant.example:0/hooks", false, "url_invalid"},
		{"https://merchant.example:/hooks", false, "url_invalid"},
		{"ftp://merchant.example/hooks", false, "url_invalid"},
		{"file:///etc/passwd", false, "url_invalid"},
		{"gopher://merchant.example:70/", false, "url_invalid"},
		{"http://127.0.0.1:8080/hooks", false, "url_not_public"},
		{"http://[::1]/hooks", false, "url_not_public"},
		{"http://169.254.169.254/latest/meta-data", false, "url_not_public"},
		{"http://[64:ff9b::a9fe:a9fe]/", false, "url_not_public"},
		{"http://[2002:7f00:1::1]/", false, "url_not_public"},
		{"http://[::ffff:10.0.0.1]/", false, "url_not_public"},
		{"http://0.0.0.0:8080/", false, "url_not_public"},
		{"http://localhost:8080/hooks", false, "url_not_public"},
		{"http://api.localhost./hooks", false, "url_not_public"},
		{"http://127.0.0.1:8080/hooks", true, ""},
		{"http://localhost:8080/hooks", true, ""},
		{"https://user:pass@127.0.0.1/hooks", true, "url_invalid"},
		{"http://127.0.0.1:99999/hooks", true, "url_invalid"},
	} {
		_, err := validateURL(c.url, c.allowPrivate)
		e, _ := apperr.As(err)
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%s (allowPrivate %v): refused: %v", c.url, c.allowPrivate, err)
		case c.code != "" && (e == nil || e.Code != c.code || e.Param != "url" || e.Kind != apperr.Invalid):
			t.Errorf("%s (allowPrivate %v): %v, want %s", c.url, c.allowPrivate, err, c.code)
		}
	}
}
