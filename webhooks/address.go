package webhooks

import (
	"net/netip"
)

// nonPublicV4 are the IPv4 ranges that are not public unicast beyond what netip's
// predicates (loopback, RFC 1918, link-local, multicast, unspecified) already say.
var nonPublicV4 = prefixes(
	"0.0.0.0/8",       // "this network" (RFC 791): 0.x.y.z can reach the local host
	"100.64.0.0/10",   // carrier-grade NAT shared space (RFC 6598)
	"192.0.0.0/24",    // IETF protocol assignments (RFC 6890)
	"192.0.2.0/24",    // documentation TEST-NET-1 (RFC 5737)
	"198.18.0.0/15",   // network benchmarking (RFC 2544), used inside data centres
	"198.51.100.0/24", // documentation TEST-NET-2
	"203.0.113.0/24",  // documentation TEST-NET-3
	"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
)

// nonPublicV6 are the IPv6 ranges that are not public unicast beyond netip's predicates
// (loopback, ULA fc00::/7, link-local, multicast, unspecified).
var nonPublicV6 = prefixes(
	"64:ff9b:1::/48", // local-use NAT64 (RFC 8215): translated inside the operator's network
	"100::/64",       // discard-only (RFC 6666)
	"2001:db8::/32",  // documentation (RFC 3849)
	"fec0::/10",      // deprecated site-local, still routed locally by some stacks
)

// Ranges whose addresses carry an IPv4 address that the packet is delivered to (by a
// translator, a tunnel or the host's own stack): the embedded address decides.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")    // well-known NAT64 (RFC 6052): last 32 bits
	v4compat  = netip.MustParsePrefix("::/96")           // IPv4-compatible (RFC 4291, deprecated)
	v4transl  = netip.MustParsePrefix("::ffff:0:0:0/96") // IPv4-translated (RFC 2765 SIIT)
	sixToFour = netip.MustParsePrefix("2002::/16")       // 6to4 (RFC 3056): bits 16..47
	teredo    = netip.MustParsePrefix("2001::/32")       // Teredo (RFC 4380): server bits 32..63, client last 32 bits inverted
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// PublicAddress reports whether ip is a public unicast address, the only kind a webhook may
// connect to unless private networks are allowed. An IPv6 address that embeds an IPv4
// address (IPv4-mapped or -compatible, NAT64, 6to4, Teredo) is public only if the IPv4
// address it leads to is: 64:ff9b::7f00:1 is 127.0.0.1 behind a NAT64 gateway.
func PublicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return false
	}
	if ip.Is4() {
		return publicV4(ip)
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublicV6 {
		if p.Contains(ip) {
			return false
		}
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip), v4compat.Contains(ip), v4transl.Contains(ip):
		return publicV4(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(ip):
		return publicV4(netip.AddrFrom4([4]byte(b[2:6])))
	case teredo.Contains(ip):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		return publicV4(netip.AddrFrom4([4]byte(b[4:8]))) && publicV4(netip.AddrFrom4(client))
	}
	return true
}

func publicV4(ip netip.Addr) bool {
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublicV4 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
