package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeClientDir holds the Node client's package.json and lock file, and the
// test's own driver (run.js) and preload (redirect.js).
const nodeClientDir = "clients/node"

// nodeClient makes sure Blitline's Node client is installed from the lock
// file (scripts/install-clients.sh does the same for make test) and returns
// the directory to run it in.
func nodeClient(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed; run scripts/install-clients.sh")
	}
	dir, err := filepath.Abs(nodeClientDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "simple_blitline_node", "package.json")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return dir
}

// blitlineFront is a TLS server in front of srv, standing in for
// api.blitline.com: the Node client speaks only https on port 443, which the
// preload turns to this server's port on 127.0.0.1. It returns the port and
// the environment that makes node trust its certificate.
func blitlineFront(t *testing.T, srv *server) (string, []string) {
	t.Helper()
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // pass /listen's spaces on as they come
	front := httptest.NewTLSServer(proxy)
	t.Cleanup(front.Close)
	ca := filepath.Join(t.TempDir(), "front.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(front.URL)
	return u.Port(), append(os.Environ(), "VIDJOB_TLS_PORT="+u.Port(), "NODE_EXTRA_CA_CERTS="+ca)
}

// runNode runs the driver under the preload and returns what it printed.
func runNode(t *testing.T, dir string, env []string, stdin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("node", append([]string{"--require", "./redirect.js", "run.js"}, args...)...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node run.js %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// TestNodeClientSubmitsAndListens runs the npm package simple_blitline_node,
// unmodified, against vidjob: its postJobs sends {"json": [jobs]} as JSON
// over TLS and resolves with the parsed answer; it has no wait helper, so
// the results are read as a Node user does, with https.get and JSON.parse,
// after a job that outlasts several keep-alive intervals.
func TestNodeClientSubmitsAndListens(t *testing.T) {
	dir := nodeClient(t)
	srv := startServer(t, "--max-attempts", "1", "--listen-keepalive", "200ms")
	_, env := blitlineFront(t, srv)

	var good, bad map[string]any
	if err := json.Unmarshal([]byte(quickJob(srv.AppID, tricklingOrigin(t, 4*time.Second))), &good); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(quickJob(srv.AppID, small(t))), &bad)
	bad["pre_process"].(map[string]any)["transcode"].(map[string]any)["preset_id"] = "no such preset"
	second, _ := json.Marshal([]any{good, bad})
	first, _ := json.Marshal([]any{good})

	var answer struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(runNode(t, dir, env, string(first), "submit"), &answer); err != nil || len(answer.Results) != 1 {
		t.Fatalf("postJobs with one job resolved with %+v (%v)", answer, err)
	}
	id, _ := answer.Results[0]["job_id"].(string)
	if id == "" {
		t.Fatalf("postJobs: %v", answer.Results)
	}
	answer.Results = nil
	if err := json.Unmarshal(runNode(t, dir, env, string(second), "submit"), &answer); err != nil || len(answer.Results) != 2 {
		t.Fatalf("postJobs with two jobs resolved with %+v (%v)", answer, err)
	}
	id2, _ := answer.Results[0]["job_id"].(string)
	if id2 == "" || !strings.Contains(fmt.Sprint(answer.Results[1]["error"]), "no such preset") {
		t.Errorf("postJobs with a good and a bad job: %v", answer.Results)
	}

	for _, jobID := range []string{id, id2} {
		var got struct {
			Status        int            `json:"status"`
			LeadingSpaces int            `json:"leading_spaces"`
			Results       map[string]any `json:"results"`
		}
		if err := json.Unmarshal(runNode(t, dir, env, "", "listen", jobID), &got); err != nil {
			t.Fatal(err)
		}
		if got.Status != 200 {
			t.Errorf("listen %s: HTTP %d", jobID, got.Status)
		}
		checkVideo(t, "node", jobID, got.Results)
		if jobID == id && got.LeadingSpaces == 0 {
			t.Errorf("listen %s: no spaces before the results; the job ended before the wait, so the test proves nothing of them", jobID)
		}
		t.Logf("listen %s: %d spaces before the results", jobID, got.LeadingSpaces)
	}
}
