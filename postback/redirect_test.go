package postback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vidjob/vidjob/fetch"
)

// TestRedirectsAreFollowedOnlyWhenTheyKeepThePOST: 307 and 308 deliver the
// same POST, body and signature to the target; 301, 302 and 303, which a
// client would follow with a body-less GET, are a failed attempt, and the
// target is never asked.
func TestRedirectsAreFollowedOnlyWhenTheyKeepThePOST(t *testing.T) {
	type request struct {
		method, signature string
		body              []byte
	}
	var mu sync.Mutex
	var atTarget []request
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		atTarget = append(atTarget, request{r.Method, r.Header.Get(SignatureHeader), b})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"/301": 301, "/302": 302, "/303": 303, "/307": 307, "/308": 308}[r.URL.Path]
		http.Redirect(w, r, target.URL+"/in", code)
	}))
	defer redirector.Close()
	s := &Sender{Client: fetch.Policy{AllowPrivateNetworks: true}.Client()}
	body := []byte(`{"results":{"job_id":"1abc"}}`)
	for _, tc := range []struct {
		code      int
		delivered bool
	}{{301, false}, {302, false}, {303, false}, {307, true}, {308, true}} {
		mu.Lock()
		atTarget = nil
		mu.Unlock()
		status, err := s.Send(context.Background(), Delivery{URL: redirector.URL + "/" + strconv.Itoa(tc.code), ContentType: "application/json",
			Body: body, JobID: "1abc", DeliveryID: "1abc-postback", Secret: "s"})
		mu.Lock()
		got := atTarget
		mu.Unlock()
		if tc.delivered {
			if err != nil || status != 204 {
				t.Errorf("%d: status %d, err %v; want delivered", tc.code, status, err)
			}
			if len(got) != 1 || got[0].method != http.MethodPost || string(got[0].body) != string(body) || !strings.HasPrefix(got[0].signature, "v1=") {
				t.Errorf("%d: the target got %+v, want the POST with its body and signature once", tc.code, got)
			}
			continue
		}
		if err == nil || status != tc.code {
			t.Errorf("%d: status %d, err %v; want a failed attempt with HTTP %d", tc.code, status, err, tc.code)
		}
		if err != nil && !strings.Contains(err.Error(), "redirect that is not followed") {
			t.Errorf("%d: message %q does not say the redirect was not followed", tc.code, err)
		}
		if Permanent(err) {
			t.Errorf("%d: a redirect is retried, not permanent", tc.code)
		}
		if len(got) != 0 {
			t.Errorf("%d: the target was asked %+v; a 3xx other than 307/308 is never followed", tc.code, got)
		}
	}
}

// TestRefusedReceiverIsPermanentAndNamesNoAddress: a receiver whose name
// resolves to a refused address fails at once, permanently, with a message
// that does not tell the tenant what the name resolved to; so does a 307 to
// such an address from an allowed receiver.
func TestRefusedReceiverIsPermanentAndNamesNoAddress(t *testing.T) {
	var hits int
	var mu sync.Mutex
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	defer inner.Close()
	port := inner.URL[strings.LastIndex(inner.URL, ":")+1:]
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:"+port+"/in", http.StatusTemporaryRedirect)
	}))
	defer outer.Close()
	// The default policy refuses localhost; with 127.0.0.1 allowed, the
	// outer receiver's 307 to 127.0.0.2 is refused where it is dialled.
	allowOuter := fetch.Policy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	for url, policy := range map[string]fetch.Policy{"http://localhost:" + port + "/in": {}, outer.URL + "/": allowOuter} {
		s := &Sender{Client: policy.Client()}
		status, err := s.Send(context.Background(), Delivery{URL: url, ContentType: "application/json", Body: []byte("{}"), Secret: "s"})
		if err == nil || status != 0 {
			t.Fatalf("%s: status %d, err %v; want refused", url, status, err)
		}
		if !Permanent(err) || !errors.Is(err, fetch.ErrForbiddenAddress) {
			t.Errorf("%s: %v is not a permanent refusal", url, err)
		}
		msg := strings.ReplaceAll(err.Error(), url, "URL")
		if strings.Contains(msg, "127.0.0.") || strings.Contains(msg, "::1") || strings.Contains(msg, "dial") || !strings.Contains(msg, "private or reserved") {
			t.Errorf("%s: message %q names an address or not the reason", url, err)
		}
	}
	if hits != 0 {
		t.Fatalf("the refused receiver was reached %d times", hits)
	}
}
