package diskstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidjob/vidjob"
)

func TestGetReadsObjectsWithinLimits(t *testing.T) {
	st, err := New(t.TempDir(), "http://x")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "in")
	os.WriteFile(src, []byte("0123456789"), 0o600)
	if _, err := st.Put(ctx, vidjob.Object{Bucket: "media-in", Key: "a/b.mp4", File: src}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "source")
	if n, err := st.Get(ctx, "media-in", "a/b.mp4", dst, 10); err != nil || n != 10 {
		t.Fatalf("get: n=%d err=%v", n, err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "0123456789" {
		t.Errorf("content %q", b)
	}
	if _, err := st.Get(ctx, "media-in", "a/b.mp4", dst, 9); vidjob.ErrorCode(err) != vidjob.ETOOLARGE {
		t.Errorf("past the limit: %v", err)
	}
	if _, err := st.Get(ctx, "media-in", "a/missing.mp4", dst, 0); vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE || !strings.Contains(vidjob.ErrorMessage(err), "s3://media-in/a/missing.mp4 does not exist") {
		t.Errorf("missing: %v", err)
	}
	if _, err := st.Get(ctx, "media-in", "a", dst, 0); vidjob.ErrorCode(err) != vidjob.EUNPROCESSABLE {
		t.Errorf("a directory is not an object: %v", err)
	}
	if _, err := st.Get(ctx, "media-in", "../../etc/passwd", dst, 0); vidjob.ErrorCode(err) != vidjob.EINVALID {
		t.Errorf("traversal: %v", err)
	}
}

func TestDeleteRemovesAnObjectAndForgivesAMissingOne(t *testing.T) {
	s, err := New(t.TempDir(), "http://example.com")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("piece"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, vidjob.Object{Bucket: "scratch", Key: "accel/j/t/piece.mkv", File: src}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Delete(ctx, "scratch", "accel/j/t/piece.mkv"); err != nil {
			t.Fatalf("delete %d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "scratch", "accel", "j", "t", "piece.mkv")); !os.IsNotExist(err) {
		t.Errorf("object still there: %v", err)
	}
	if err := s.Delete(ctx, "scratch", "../escape"); vidjob.ErrorCode(err) != vidjob.EINVALID {
		t.Errorf("delete of a path outside the store: %v, want EINVALID", err)
	}
}
