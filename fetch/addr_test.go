package fetch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vidjob/vidjob"
)

// notPublic are the spellings of non-public addresses that a review tried,
// and one address of every special-purpose block.
var notPublic = []string{
	// Zoned: a zone is never public, and a block never matches a zoned address.
	"::1%lo", "::1%1", "fe80::1%eth0", "fd00:ec2::254%eth0", "2606:4700:4700::1111%eth0",
	// The metadata address in every IPv6 form that carries it.
	"::a9fe:a9fe",                          // IPv4-compatible
	"::ffff:169.254.169.254",               // IPv4-mapped
	"64:ff9b::a9fe:a9fe",                   // NAT64
	"64:ff9b::7f00:1",                      // NAT64 of loopback
	"2002:a9fe:a9fe::",                     // 6to4
	"2001:0:4136:e378:8000:63bf:5601:5601", // Teredo
	"::ffff:0:a9fe:a9fe",                   // IPv4-translated
	// IPv4 special-purpose registry.
	"0.0.0.0", "0.1.2.3", "10.1.2.3", "100.64.0.1", "127.0.0.1", "127.255.255.254", "169.254.169.254",
	"172.16.0.1", "172.31.255.255", "192.0.0.9", "192.0.0.170", "192.0.2.1", "192.31.196.1", "192.52.193.1",
	"192.88.99.1", "192.168.1.1", "192.175.48.1", "198.18.0.1", "198.19.255.255", "198.51.100.1",
	"203.0.113.1", "240.0.0.1", "255.255.255.255", "224.0.0.1", "239.255.255.250",
	// IPv6 special-purpose registry.
	"::", "::1", "64:ff9b:1::1", "100::1", "100:0:0:1::1", "2001::1", "2001:1::1", "2001:2::1", "2001:3::1",
	"2001:4:112::1", "2001:10::1", "2001:20::1", "2001:30::1", "2001:db8::1", "2002::1", "2620:4f:8000::1",
	"3fff::1", "5f00::1", "fc00::1", "fd12::1", "fe80::1", "fec0::1", "ff02::1", "ff0e::1",
	// Outside 2000::/3, in no block.
	"4000::1", "1::1",
}

func TestPublicAddrRefusesEverySpecialPurposeForm(t *testing.T) {
	for _, s := range notPublic {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if PublicAddr(addr) {
			t.Errorf("%s counted as public", s)
		}
		if (Policy{}).allowed(addr) {
			t.Errorf("%s allowed by the default policy", s)
		}
		if !(Policy{AllowPrivateNetworks: true}).allowed(addr) {
			t.Errorf("%s refused with private networks allowed", s)
		}
	}
	for _, s := range []string{"93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e",
		"::ffff:8.8.8.8", "64:ff9b::808:808" /* NAT64 of 8.8.8.8 */} {
		if !PublicAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s counted as non-public", s)
		}
	}
}

func TestSpecialRangeNamesTheBlock(t *testing.T) {
	for addr, want := range map[string]string{
		"::1%lo":           "loopback",
		"fe80::1%eth0":     "link-local",
		"169.254.169.254":  "cloud metadata",
		"2002:a9fe:a9fe::": "6to4",
		"::a9fe:a9fe":      "IPv4-compatible",
		"8.8.8.8":          "",
	} {
		got := SpecialRange(netip.MustParseAddr(addr))
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("SpecialRange(%s) = %q, want one naming %q", addr, got, want)
		}
	}
}

func TestAllowedCIDRsMatchZonedAndMappedAddresses(t *testing.T) {
	p := Policy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00:ec2::/32"), netip.MustParsePrefix("10.0.0.0/8")}}
	for _, s := range []string{"fd00:ec2::254%eth0", "::ffff:10.1.2.3"} {
		if !p.allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s not allowed by its CIDR", s)
		}
	}
	if p.allowed(netip.MustParseAddr("::1%lo")) {
		t.Error("::1%lo allowed by unrelated CIDRs")
	}
}

func TestCheckLiteralRefusesEverySpelling(t *testing.T) {
	for _, u := range []string{
		"http://[::1%25lo]:8080/ok.mp4", "http://[::1%251]/ok.mp4", "http://[fe80::1%25eth0]/x",
		"http://[fd00:ec2::254%25eth0]/latest/meta-data/", "http://[::a9fe:a9fe]/latest/meta-data/",
		"http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "http://[2002:a9fe:a9fe::]/latest/meta-data/",
		"http://[::ffff:7f00:1]/x", "http://2130706433/x", "http://0x7f000001/x", "http://0177.0.0.1/x",
		"http://127.1/x", "http://0x7f.1/x", "http://169.254.43518/x", "http://127.0.0.1./x",
		"http://99999999999/x", "http://08.0.0.1/x", "http://LOCALHOST/x", "http://localhost./x",
		"http://a.localhost/x", "http://[::]/x", "http://0/x",
	} {
		err := Policy{}.CheckLiteral("src", u)
		if vidjob.ErrorCode(err) != vidjob.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", u, err)
		}
		if err != nil && strings.Contains(vidjob.ErrorMessage(err), "169.254") {
			t.Errorf("%s: the message names the address: %s", u, vidjob.ErrorMessage(err))
		}
	}
	for _, u := range []string{"https://example.com/a.mp4", "http://8.8.8.8/a.mp4", "http://[2606:4700:4700::1111]/a",
		"http://1a.example.com/x", "http://bad.cafe/x", "http://134744072/x" /* 8.8.8.8 */} {
		if err := (Policy{}).CheckLiteral("src", u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

// TestClientNeverReachesZonedLoopback: a real server on [::1] is never
// reached through any zoned spelling of its address, directly or by redirect.
func TestClientNeverReachesZonedLoopback(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	var hits atomic.Int32
	inner := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("secret"))
	})}}
	inner.Start()
	defer inner.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	lo := loopbackInterface(t)
	targets := []string{
		"http://[::1%25" + lo + "]:" + itoa(port) + "/ok.mp4",
		"http://[::1%25" + itoa(interfaceIndex(t, lo)) + "]:" + itoa(port) + "/ok.mp4",
	}
	// The origin on 127.0.0.1 is allowed; it redirects to the zoned address.
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	defer outer.Close()
	p := Policy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	for _, target := range targets {
		for _, u := range []string{target, outer.URL + "/?to=" + url.QueryEscape(target)} {
			_, err := Download(context.Background(), p.Client(), u, filepath.Join(t.TempDir(), "f"), 0)
			if !errors.Is(err, ErrForbiddenAddress) || !Permanent(err) {
				t.Errorf("%s: err = %v, want a permanent forbidden-address error", u, err)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback origin was reached %d times", n)
	}
	// The same server is reachable when private networks are allowed: the
	// refusal above is the policy's, not a broken URL.
	if _, err := Download(context.Background(), Policy{AllowPrivateNetworks: true}.Client(), targets[0], filepath.Join(t.TempDir(), "f"), 0); err != nil || hits.Load() != 1 {
		t.Fatalf("with private networks allowed: err = %v, hits = %d", err, hits.Load())
	}
}

func loopbackInterface(t *testing.T) string {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Name
		}
	}
	t.Fatal("no loopback interface")
	return ""
}

func interfaceIndex(t *testing.T, name string) int {
	i, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return i.Index
}

func itoa(n int) string { return strconv.Itoa(n) }
