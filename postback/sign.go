package postback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// The headers that let a receiver check that a postback came from vidjob and
// is recent: X-Vidjob-Timestamp is Unix seconds, and X-Vidjob-Signature is
// "v1=" and the hex HMAC-SHA256 of timestamp + "." + body keyed with the
// application's secret. The version prefix leaves room to change the scheme
// without breaking receivers.
const (
	SignatureHeader = "X-Vidjob-Signature"
	TimestampHeader = "X-Vidjob-Timestamp"
)

// Sign returns the hex HMAC-SHA256 of timestamp + "." + body keyed with
// secret. Signing the timestamp with the body stops an old delivery being
// replayed under a fresh timestamp.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature (the X-Vidjob-Signature value) is valid for
// timestamp and body under secret, and the timestamp is within tolerance of
// now. It compares in constant time. Receivers written in Go may use it; the
// README shows the same check in a few lines for other languages.
func Verify(secret, signature, timestamp string, body []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	got, ok := strings.CutPrefix(signature, "v1=")
	if !ok {
		return false
	}
	want := Sign(secret, timestamp, body)
	return hmac.Equal([]byte(got), []byte(want))
}
