package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/internal/s3test"
)

// newServerStore starts versitygw, returns a Store for it with 5 MiB parts, and
// creates bucket.
func newServerStore(t *testing.T, bucket string) (*Store, string) {
	t.Helper()
	endpoint, ak, sk := s3test.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := New(ctx, Config{
		Endpoint:        endpoint,
		Region:          s3test.Region,
		AccessKeyID:     ak,
		SecretAccessKey: sk,
		PathStyle:       true,
		PartSize:        MinPartSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return st, endpoint
}

func tempFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func getObject(t *testing.T, st *Store, bucket, key string) (*s3.GetObjectOutput, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := st.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out, body
}

func TestPutAgainstRealS3(t *testing.T) {
	const bucket = "vidjob-test"
	st, endpoint := newServerStore(t, bucket)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("small file with headers", func(t *testing.T) {
		data := randomBytes(t, 64<<10)
		u, err := st.Put(ctx, vidjob.Object{
			Bucket:      bucket,
			Key:         "out/my vidéo#1.mp4",
			File:        tempFile(t, data),
			ContentType: "application/octet-stream",
			Headers: map[string]string{
				"Cache-Control":       "max-age=3600, public",
				"content-type":        "video/mp4", // the client's header wins
				"Content-Disposition": `attachment; filename="v.mp4"`,
				"x-amz-meta-Owner":    "tom",
				"x-amz-acl":           "", // removed, as Blitline clients do
				"Content-Language":    "",
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := endpoint + "/vidjob-test/out/my%20vid%C3%A9o%231.mp4"; u != want {
			t.Errorf("url = %q, want %q", u, want)
		}
		out, body := getObject(t, st, bucket, "out/my vidéo#1.mp4")
		if !bytes.Equal(body, data) {
			t.Fatalf("body differs: %d bytes, want %d", len(body), len(data))
		}
		sum := md5.Sum(data)
		if etag := strings.Trim(aws.ToString(out.ETag), `"`); etag != hex.EncodeToString(sum[:]) {
			t.Errorf("ETag = %s, want the MD5 %x of a single-part upload", etag, sum)
		}
		check := map[string][2]string{
			"Cache-Control":       {aws.ToString(out.CacheControl), "max-age=3600, public"},
			"Content-Type":        {aws.ToString(out.ContentType), "video/mp4"},
			"Content-Disposition": {aws.ToString(out.ContentDisposition), `attachment; filename="v.mp4"`},
			"x-amz-meta-owner":    {out.Metadata["owner"], "tom"},
		}
		for name, gw := range check {
			if gw[0] != gw[1] {
				t.Errorf("%s = %q, want %q", name, gw[0], gw[1])
			}
		}
	})

	t.Run("12 MiB file in parts", func(t *testing.T) {
		data := randomBytes(t, 12<<20)
		u, err := st.Put(ctx, vidjob.Object{Bucket: bucket, Key: "big.mp4", File: tempFile(t, data), ContentType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		if want := endpoint + "/vidjob-test/big.mp4"; u != want {
			t.Errorf("url = %q, want %q", u, want)
		}
		out, body := getObject(t, st, bucket, "big.mp4")
		if !bytes.Equal(body, data) {
			t.Fatalf("body differs: %d bytes, want %d", len(body), len(data))
		}
		// A multipart ETag is the MD5 of the parts' MD5s, then "-" and the part
		// count: 5 + 5 + 2 MiB makes 3 parts.
		var partSums []byte
		for off := 0; off < len(data); off += MinPartSize {
			s := md5.Sum(data[off:min(off+MinPartSize, len(data))])
			partSums = append(partSums, s[:]...)
		}
		whole := md5.Sum(partSums)
		if etag, want := strings.Trim(aws.ToString(out.ETag), `"`), hex.EncodeToString(whole[:])+"-3"; etag != want {
			t.Errorf("ETag = %s, want %s (3 parts)", etag, want)
		}
		if ct := aws.ToString(out.ContentType); ct != "video/mp4" {
			t.Errorf("Content-Type = %q", ct)
		}
		// No multipart upload may be left open.
		mpus, err := st.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if len(mpus.Uploads) != 0 {
			t.Errorf("%d multipart uploads left open", len(mpus.Uploads))
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		for _, v := range []string{"first", "second"} {
			obj := vidjob.Object{Bucket: bucket, Key: "o.txt", File: tempFile(t, []byte(v)), Headers: map[string]string{"x-amz-acl": "public-read"}}
			if _, err := st.Put(ctx, obj); err != nil {
				t.Fatal(err)
			}
		}
		if _, body := getObject(t, st, bucket, "o.txt"); string(body) != "second" {
			t.Errorf("body = %q", body)
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		_, err := st.Put(ctx, vidjob.Object{Bucket: "no-such-bucket", Key: "k", File: tempFile(t, []byte("x"))})
		if code := vidjob.ErrorCode(err); code != vidjob.EUNPROCESSABLE {
			t.Fatalf("err = %v (code %q), want %s", err, code, vidjob.EUNPROCESSABLE)
		}
		if msg := vidjob.ErrorMessage(err); !strings.HasPrefix(msg, `Uploading to bucket "no-such-bucket" failed: NoSuchBucket`) {
			t.Errorf("message = %q", msg)
		}
	})

	t.Run("bad input never reaches the server", func(t *testing.T) {
		for _, obj := range []vidjob.Object{
			{Bucket: bucket, Key: "k", File: tempFile(t, nil), Headers: map[string]string{"X-Unknown": "1"}},
			{Bucket: bucket, Key: "k", File: tempFile(t, nil), Headers: map[string]string{"x-amz-acl": "everyone"}},
			{Bucket: bucket, Key: "../k", File: tempFile(t, nil)},
			{Bucket: "a/b", Key: "k", File: tempFile(t, nil)},
		} {
			if _, err := st.Put(ctx, obj); vidjob.ErrorCode(err) != vidjob.EINVALID {
				t.Errorf("Put(%+v): err = %v, want %s", obj, err, vidjob.EINVALID)
			}
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		ccancel()
		_, err := st.Put(cctx, vidjob.Object{Bucket: bucket, Key: "c.txt", File: tempFile(t, []byte("x"))})
		if msg := vidjob.ErrorMessage(err); msg != `Uploading to bucket "vidjob-test" was cancelled.` {
			t.Errorf("err = %v, message %q", err, msg)
		}
	})

	t.Run("missing source file", func(t *testing.T) {
		_, err := st.Put(ctx, vidjob.Object{Bucket: bucket, Key: "k", File: filepath.Join(t.TempDir(), "nope")})
		if err == nil || vidjob.ErrorCode(err) != vidjob.EINTERNAL {
			t.Errorf("err = %v, want an internal error", err)
		}
	})
}

func TestPutToALegacyBucketName(t *testing.T) {
	const bucket = "YOUR_BUCKET"
	st, endpoint := newServerStore(t, bucket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := st.Put(ctx, vidjob.Object{Bucket: bucket, Key: "a.mp4", File: tempFile(t, []byte("legacy"))})
	if err != nil {
		t.Fatal(err)
	}
	if u != endpoint+"/YOUR_BUCKET/a.mp4" {
		t.Errorf("url = %q", u)
	}
	if _, body := getObject(t, st, bucket, "a.mp4"); string(body) != "legacy" {
		t.Errorf("body = %q", body)
	}
}

// closedEndpoint returns an http URL on which nothing listens.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestPutWhenTheEndpointIsDown(t *testing.T) {
	data := tempFile(t, []byte("x"))
	t.Run("bounded by the context", func(t *testing.T) {
		st, err := New(context.Background(), Config{Endpoint: closedEndpoint(t), AccessKeyID: "a", SecretAccessKey: "b", PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err = st.Put(ctx, vidjob.Object{Bucket: "b", Key: "k", File: data})
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Put took %s with a 2s context", d)
		}
		if code := vidjob.ErrorCode(err); code != vidjob.EUNAVAILABLE {
			t.Fatalf("err = %v (code %q), want %s", err, code, vidjob.EUNAVAILABLE)
		}
		// Which comes first, the deadline or the retryer giving up, depends on
		// the jittered backoff and the machine's load; either is a clear answer.
		if msg := vidjob.ErrorMessage(err); msg != `Uploading to bucket "b" did not finish in time.` &&
			msg != `Uploading to bucket "b" failed: the storage service could not be reached.` {
			t.Errorf("message = %q", msg)
		}
	})
	t.Run("bounded by the retryer", func(t *testing.T) {
		st, err := New(context.Background(), Config{Endpoint: closedEndpoint(t), AccessKeyID: "a", SecretAccessKey: "b",
			PathStyle: true, MaxAttempts: 3, MaxBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		_, err = st.Put(ctx, vidjob.Object{Bucket: "b", Key: "k", File: data})
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Put took %s with 3 attempts", d)
		}
		if code := vidjob.ErrorCode(err); code != vidjob.EUNAVAILABLE {
			t.Fatalf("err = %v (code %q), want %s", err, code, vidjob.EUNAVAILABLE)
		}
		if msg := vidjob.ErrorMessage(err); msg != `Uploading to bucket "b" failed: the storage service could not be reached.` {
			t.Errorf("message = %q", msg)
		}
		if !strings.Contains(err.Error(), "connect") {
			t.Errorf("the logged error should say what failed: %v", err)
		}
	})
}

func TestURL(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		bucket string
		key    string
		region string
		want   string
	}{
		{"path style", Config{Endpoint: "http://minio:9000", PathStyle: true}, "b", "a/b c.mp4", "", "http://minio:9000/b/a/b%20c.mp4"},
		{"path style with base path", Config{Endpoint: "https://gw.example.com/s3/", PathStyle: true}, "b", "k.mp4", "", "https://gw.example.com/s3/b/k.mp4"},
		{"virtual host on endpoint", Config{Endpoint: "https://storage.example.com"}, "media", "k.mp4", "", "https://media.storage.example.com/k.mp4"},
		{"AWS virtual host", Config{Region: "eu-west-1"}, "media", "v/1.mp4", "", "https://media.s3.eu-west-1.amazonaws.com/v/1.mp4"},
		{"AWS object region", Config{Region: "eu-west-1"}, "media", "1.mp4", "us-west-2", "https://media.s3.us-west-2.amazonaws.com/1.mp4"},
		{"AWS dotted bucket is path style", Config{Region: "us-east-1"}, "media.example.com", "1.mp4", "", "https://s3.us-east-1.amazonaws.com/media.example.com/1.mp4"},
		{"AWS legacy bucket is path style", Config{Region: "us-east-1"}, "YOUR_BUCKET", "1.mp4", "", "https://s3.us-east-1.amazonaws.com/YOUR_BUCKET/1.mp4"},
		{"public URL", Config{Endpoint: "http://minio:9000", PathStyle: true, PublicURL: "https://cdn.example.com/"}, "b", "x/y#.mp4", "", "https://cdn.example.com/x/y%23.mp4"},
		{"public URL with bucket", Config{PublicURL: "https://{bucket}.cdn.example.com"}, "media", "y.mp4", "", "https://media.cdn.example.com/y.mp4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.AccessKeyID, tt.cfg.SecretAccessKey = "a", "b"
			st, err := New(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.URL(tt.bucket, tt.key, tt.region); got != tt.want {
				t.Errorf("URL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUploadInputHeaders(t *testing.T) {
	st, err := New(context.Background(), Config{Endpoint: "http://x", AccessKeyID: "a", SecretAccessKey: "b", DefaultACL: "public-read"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := st.uploadInput(vidjob.Object{Bucket: "b", Key: "k", ContentType: "video/mp4", Headers: map[string]string{
		"Expires":             "Wed, 21 Oct 2026 07:28:00 GMT",
		"x-amz-storage-class": "STANDARD_IA",
		"X-Amz-Tagging":       "a=b",
		"x-amz-meta-a":        "1",
		"x-amz-meta-b":        "",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if in.ACL != tmtypes.ObjectCannedACLPublicRead {
		t.Errorf("ACL = %q, want the default public-read", in.ACL)
	}
	if aws.ToString(in.ContentType) != "video/mp4" {
		t.Errorf("ContentType = %q", aws.ToString(in.ContentType))
	}
	if want := time.Date(2026, 10, 21, 7, 28, 0, 0, time.UTC); !aws.ToTime(in.Expires).Equal(want) {
		t.Errorf("Expires = %v", in.Expires)
	}
	if in.StorageClass != "STANDARD_IA" || aws.ToString(in.Tagging) != "a=b" {
		t.Errorf("StorageClass = %q, Tagging = %q", in.StorageClass, aws.ToString(in.Tagging))
	}
	if fmt.Sprint(in.Metadata) != "map[a:1]" {
		t.Errorf("Metadata = %v", in.Metadata)
	}

	for _, acl := range []string{"", "private"} {
		in, err = st.uploadInput(vidjob.Object{Bucket: "b", Key: "k", Headers: map[string]string{"X-AMZ-ACL": acl}})
		if err != nil {
			t.Fatal(err)
		}
		if string(in.ACL) != acl {
			t.Errorf("x-amz-acl %q: ACL = %q", acl, in.ACL)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{AccessKeyID: "only-one"},
		{SecretAccessKey: "only-one"},
		{Endpoint: "minio:9000"},
		{Endpoint: "ftp://x"},
		{AccessKeyID: "a", SecretAccessKey: "b", PartSize: 1 << 20},
		{AccessKeyID: "a", SecretAccessKey: "b", DefaultACL: "everyone"},
	} {
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
