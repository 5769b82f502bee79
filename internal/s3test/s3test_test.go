package s3test

import (
	"net/http"
	"strings"
	"testing"
)

func TestStartAnswers(t *testing.T) {
	endpoint, ak, sk := Start(t)
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || ak == "" || sk == "" {
		t.Fatalf("Start = %q, %q, %q", endpoint, ak, sk)
	}
	resp, err := http.Get(endpoint + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health = %d", resp.StatusCode)
	}
	// Without a signature the server must refuse to list buckets: it is a real
	// S3 server with authentication, not an open store.
	resp, err = http.Get(endpoint + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous ListBuckets = %d, want 403", resp.StatusCode)
	}
}

func TestDeclaresVidjob(t *testing.T) {
	for in, want := range map[string]bool{
		"module github.com/vidjob/vidjob\n\ngo 1.26\n":   true,
		"module \"github.com/vidjob/vidjob\"\n":          true,
		"module github.com/vidjob/vidjob/tools\n":        false,
		"// module github.com/vidjob/vidjob\nmodule x\n": false,
	} {
		if got := declaresVidjob([]byte(in)); got != want {
			t.Errorf("declaresVidjob(%q) = %v", in, got)
		}
	}
}
