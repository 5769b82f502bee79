package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// bigOutputPreset is a custom preset (Elastic Transcoder's shape) whose
// output is large, so that storing it takes S3's multipart path with many
// parts: 1080p H.264 at 40 Mbit/s.
const bigOutputPreset = `[{
  "Id": "bench-big-1080p", "Name": "Bench big 1080p", "Description": "High-bitrate 1080p for the memory benchmark", "Container": "mp4",
  "Video": {"Codec": "H.264", "CodecOptions": {"Profile": "high", "Level": "4.2", "MaxReferenceFrames": "3"},
    "KeyframesMaxDist": "60", "FixedGOP": "false", "BitRate": "40000", "FrameRate": "30",
    "MaxWidth": "1920", "MaxHeight": "1080", "SizingPolicy": "ShrinkToFit", "PaddingPolicy": "NoPad"},
  "Audio": {"Codec": "AAC", "SampleRate": "48000", "BitRate": "160", "Channels": "2", "CodecOptions": {"Profile": "AAC-LC"}}
}]`

// s3Server is a running versitygw with one bucket, "bench".
type s3Server struct {
	endpoint, access, secret string
	cmd                      *exec.Cmd
	dir                      string
}

// startS3 runs versitygw (the same S3 server the tests use) from bin.
func startS3(bin string) (*s3Server, error) {
	dir, err := os.MkdirTemp("", "vidjob-bench-s3-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &s3Server{endpoint: "http://" + addr, access: "vidjobbench", secret: rand.Text(), dir: dir}
	os.MkdirAll(dir+"/data", 0o700)
	os.MkdirAll(dir+"/meta", 0o700)
	s.cmd = exec.Command(bin, "--port", addr, "--access", s.access, "--secret", s.secret, "--region", "us-east-1",
		"--health", "/health", "--quiet", "posix", "--sidecar", dir+"/meta", dir+"/data")
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("versitygw did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	client := awss3.New(awss3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		s.stop()
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	return s, nil
}

// flags are the `vidjob serve` flags that store outputs in this server.
func (s *s3Server) flags() []string {
	return []string{"--s3-endpoint", s.endpoint, "--s3-access-key", s.access, "--s3-secret-key", s.secret, "--s3-path-style", "--s3-region", "us-east-1"}
}

func (s *s3Server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	os.RemoveAll(s.dir)
}
