package e2e

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidjob/vidjob/internal/s3test"
)

// s3server is a real S3 server (versitygw) with a client to inspect it.
type s3server struct {
	*s3test.Server
	endpoint, access, secret string
	client                   *awss3.Client
}

// startS3 starts an S3 server holding the given (empty) buckets.
func startS3(t *testing.T, buckets ...string) *s3server {
	t.Helper()
	srv := s3test.StartServer(t)
	endpoint, access, secret := srv.Endpoint, srv.AccessKey, srv.SecretKey
	client := awss3.New(awss3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
		UsePathStyle: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, b := range buckets {
		if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	return &s3server{Server: srv, endpoint: endpoint, access: access, secret: secret, client: client}
}

// object reads an object back through the S3 API.
func (s *s3server) object(t *testing.T, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
