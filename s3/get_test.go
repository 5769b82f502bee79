package s3

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
)

// TestGetDownloadsWithinLimits reads back an uploaded object from a real S3
// server, refuses one past the size limit, and names a missing key.
func TestGetDownloadsWithinLimits(t *testing.T) {
	st, _ := newServerStore(t, "media-in")
	ctx := context.Background()
	data := randomBytes(t, 100_000)
	if _, err := st.Put(ctx, vidjob.Object{Bucket: "media-in", Key: "raw/clip.mp4", File: tempFile(t, data)}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "source")
	n, err := st.Get(ctx, "media-in", "raw/clip.mp4", dst, int64(len(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("get: n=%d err=%v", n, err)
	}
	if b, _ := os.ReadFile(dst); !bytes.Equal(b, data) {
		t.Error("downloaded bytes differ")
	}
	if _, err := st.Get(ctx, "media-in", "raw/clip.mp4", dst, 1000); vidjob.ErrorCode(err) != vidjob.ETOOLARGE {
		t.Errorf("past the limit: %v", err)
	}
	_, err = st.Get(ctx, "media-in", "raw/missing.mp4", dst, 0)
	if vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE || !strings.Contains(vidjob.ErrorMessage(err), "s3://media-in/raw/missing.mp4") || !strings.Contains(vidjob.ErrorMessage(err), "NoSuchKey") {
		t.Errorf("missing key: %v", err)
	}
	if _, err := st.Get(ctx, "media-in", "../x", dst, 0); vidjob.ErrorCode(err) != vidjob.EINVALID {
		t.Errorf("bad key: %v", err)
	}
}
