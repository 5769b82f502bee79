package fetch

import (
	"net/netip"
	"strconv"
	"strings"
)

// A specialRange is an address block that is not the public internet, with
// the reason, as docs/SECURITY.md lists them.
type specialRange struct {
	prefix netip.Prefix
	name   string
}

// specialRanges are the blocks of IANA's IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890 and the RFCs that added to them), every one of
// them whatever the registry says of its global reachability: none of them is
// where a media file or a postback receiver lives, and several (AS112, AMT,
// anycast relays) answer from whatever box is nearest. To them are added the
// multicast blocks (their own registries) and the deprecated IPv6 forms that
// embed an IPv4 address (IPv4-compatible, site-local), which a kernel may still
// route to the IPv4 address inside.
//
// The NAT64 well-known prefix 64:ff9b::/96 is not here: a DNS64 resolver hands
// out 64:ff9b::a.b.c.d for every IPv4-only host on an IPv6-only network, so it
// is judged by the IPv4 address it carries (see PublicAddr).
var specialRanges = func() []specialRange {
	var out []specialRange
	for _, r := range [][2]string{
		// IPv4 Special-Purpose Address Registry.
		{"0.0.0.0/8", "this network (RFC 791)"},
		{"10.0.0.0/8", "private use (RFC 1918)"},
		{"100.64.0.0/10", "shared address space, CGNAT (RFC 6598)"},
		{"127.0.0.0/8", "loopback (RFC 1122)"},
		{"169.254.0.0/16", "link-local, cloud metadata (RFC 3927)"},
		{"172.16.0.0/12", "private use (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments (RFC 6890)"},
		{"192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"},
		{"192.31.196.0/24", "AS112-v4 (RFC 7535)"},
		{"192.52.193.0/24", "AMT (RFC 7450)"},
		{"192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"},
		{"192.168.0.0/16", "private use (RFC 1918)"},
		{"192.175.48.0/24", "direct delegation AS112 service (RFC 7534)"},
		{"198.18.0.0/15", "benchmarking (RFC 2544)"},
		{"198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"},
		{"203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"},
		{"240.0.0.0/4", "reserved (RFC 1112)"},
		{"255.255.255.255/32", "limited broadcast (RFC 919)"},
		// IPv4 multicast address space registry.
		{"224.0.0.0/4", "multicast (RFC 5771)"},

		// IPv6 Special-Purpose Address Registry.
		{"::/128", "unspecified (RFC 4291)"},
		{"::1/128", "loopback (RFC 4291)"},
		{"::ffff:0:0/96", "IPv4-mapped (RFC 4291)"},
		{"64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"},
		{"100::/64", "discard-only (RFC 6666)"},
		{"100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"},
		{"2001::/23", "IETF protocol assignments, Teredo, ORCHID, AMT, AS112 (RFC 2928, 4380, 7343, 7450, 7535)"},
		{"2001:db8::/32", "documentation (RFC 3849)"},
		{"2002::/16", "6to4 (RFC 3056)"},
		{"2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)"},
		{"3fff::/20", "documentation (RFC 9637)"},
		{"5f00::/16", "segment routing SIDs (RFC 9602)"},
		{"fc00::/7", "unique local (RFC 4193)"},
		{"fe80::/10", "link-local unicast (RFC 4291)"},
		// IPv6 multicast address space registry.
		{"ff00::/8", "multicast (RFC 4291)"},
		// Deprecated forms that still reach what they embed or name.
		{"::/96", "IPv4-compatible, deprecated (RFC 4291)"},
		{"::ffff:0:0:0/96", "IPv4-translated (RFC 2765)"},
		{"fec0::/10", "site-local, deprecated (RFC 3879)"},
	} {
		out = append(out, specialRange{netip.MustParsePrefix(r[0]), r[1]})
	}
	return out
}()

// globalUnicast is the only IPv6 block IANA allocates for global unicast;
// anything outside it (bar NAT64, above) is not a public host.
var globalUnicast = netip.MustParsePrefix("2000::/3")

// nat64 is the NAT64 well-known prefix (RFC 6052): its last 32 bits are an
// IPv4 address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PublicAddr reports whether addr is a public unicast address, judged as the
// dialler will reach it:
//   - an address with a zone ("fe80::1%eth0", "::1%lo") is never public: a zone
//     names a local interface, which only scoped (non-public) addresses use,
//     and a block never matches a zoned address, so the zone is never left on
//     for the check;
//   - an IPv4-mapped IPv6 address is judged as the IPv4 address it carries, and
//     so is a NAT64 address (64:ff9b::a.b.c.d);
//   - every block of the IANA special-purpose registries is refused
//     (specialRanges), and so is IPv6 outside 2000::/3.
func PublicAddr(addr netip.Addr) bool {
	if !addr.IsValid() || addr.Zone() != "" {
		return false
	}
	addr = addr.Unmap()
	if nat64.Contains(addr) {
		b := addr.As16()
		return PublicAddr(netip.AddrFrom4([4]byte(b[12:16])))
	}
	return SpecialRange(addr) == "" && (addr.Is4() || globalUnicast.Contains(addr))
}

// SpecialRange names the special-purpose block addr (unmapped, without its
// zone) falls in, or "" when it is in none. IPv6 outside 2000::/3 that no
// block names is "not global unicast".
func SpecialRange(addr netip.Addr) string {
	addr = addr.WithZone("").Unmap()
	for _, r := range specialRanges {
		if r.prefix.Contains(addr) {
			return r.name
		}
	}
	if addr.Is6() && !globalUnicast.Contains(addr) && !nat64.Contains(addr) {
		return "not IPv6 global unicast (outside 2000::/3)"
	}
	return ""
}

// numericHost reports whether host is an IPv4 address in one of the forms
// that inet_aton accepts and netip does not ("127.1", "0x7f000001",
// "2130706433", "0177.0.0.1"): a resolver that hands the name to the C
// library dials the address it spells, so such a name is judged as that
// address, or refused when it cannot be read.
func numericHost(host string) (netip.Addr, bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	// As browsers' URL parsers decide: a host whose last label starts with a
	// digit is an IPv4 address or nothing, since no top-level domain does.
	last := parts[len(parts)-1]
	if last == "" || last[0] < '0' || last[0] > '9' {
		return netip.Addr{}, false
	}
	if len(parts) > 4 {
		return netip.IPv4Unspecified(), true
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 0, 32)
		if err != nil {
			// Numeric but no address (08, 0x, 99999999999, 1a): judged
			// as the worst case.
			return netip.IPv4Unspecified(), true
		}
		nums[i] = n
	}
	// The last part fills the bytes the others did not.
	var v uint64
	for _, n := range nums[:len(nums)-1] {
		if n > 0xff {
			return netip.IPv4Unspecified(), true
		}
		v = v<<8 | n
	}
	rest := uint(8 * (4 - len(nums) + 1))
	if nums[len(nums)-1] >= 1<<rest {
		return netip.IPv4Unspecified(), true
	}
	v = v<<rest | nums[len(nums)-1]
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
