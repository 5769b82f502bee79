package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/vidjob/vidjob"
)

// Get downloads bucket/key into the file at path, for s3:// sources, streaming
// it and stopping with ETOOLARGE past maxBytes (0: no limit). Errors are
// *vidjob.Error: EUNPROCESSABLE when the service refuses (no such key, access
// denied), EUNAVAILABLE when it cannot be reached.
func (s *Store) Get(ctx context.Context, bucket, key, path string, maxBytes int64) (int64, error) {
	if err := vidjob.ValidateBucket(bucket); err != nil {
		return 0, err
	}
	if err := vidjob.ValidateSourceKey(key); err != nil {
		return 0, err
	}
	src := vidjob.S3Source(bucket, key)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, classifyGet(ctx, src, err)
	}
	defer out.Body.Close()
	if size := aws.ToInt64(out.ContentLength); maxBytes > 0 && size > maxBytes {
		return 0, vidjob.Errorf(vidjob.ETOOLARGE, "Source is larger than the %d-byte limit (%d bytes).", maxBytes, size)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("s3: get %s: %w", src, err)
	}
	var body io.Reader = out.Body
	if maxBytes > 0 {
		body = io.LimitReader(out.Body, maxBytes+1)
	}
	n, copyErr := io.Copy(f, body)
	closeErr := f.Close()
	switch {
	case maxBytes > 0 && n > maxBytes:
		return n, vidjob.Errorf(vidjob.ETOOLARGE, "Source is larger than the %d-byte limit.", maxBytes)
	case copyErr != nil:
		return n, classifyGet(ctx, src, copyErr)
	case closeErr != nil:
		return n, fmt.Errorf("s3: get %s: %w", src, closeErr)
	}
	s.log.InfoContext(ctx, "s3 download done", "bucket", bucket, "key", key, "bytes", n)
	return n, nil
}

// classifyGet turns a download error into a sentence for the client.
func classifyGet(ctx context.Context, src string, err error) error {
	cause := fmt.Errorf("s3: get %s: %w", src, err)
	if ctx.Err() != nil {
		return vidjob.WrapError(vidjob.EUNAVAILABLE, cause, "Reading source %s did not finish.", src)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		var httpErr interface{ HTTPStatusCode() int }
		status := 0
		if errors.As(err, &httpErr) {
			status = httpErr.HTTPStatusCode()
		}
		if status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
			return vidjob.WrapError(vidjob.EUNAVAILABLE, cause, "Reading source %s failed: the storage service answered %s.", src, apiErr.ErrorCode())
		}
		msg := apiErr.ErrorMessage()
		if msg == "" {
			msg = http.StatusText(status)
		}
		return vidjob.WrapError(vidjob.EUNPROCESSABLE, cause, "Reading source %s failed: %s (%s).", src, apiErr.ErrorCode(), strings.TrimSuffix(msg, "."))
	}
	var netErr net.Error
	var maxAttempts *retry.MaxAttemptsError
	if errors.As(err, &netErr) || errors.As(err, &maxAttempts) {
		return vidjob.WrapError(vidjob.EUNAVAILABLE, cause, "Reading source %s failed: the storage service could not be reached.", src)
	}
	return cause
}

// Delete removes bucket/key; S3 answers a missing key with success, so a
// clean-up that runs twice succeeds twice.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := vidjob.ValidateBucket(bucket); err != nil {
		return err
	}
	if err := vidjob.ValidateKey(key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return classifyGet(ctx, vidjob.S3Source(bucket, key), err)
	}
	return nil
}
