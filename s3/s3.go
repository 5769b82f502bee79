// Package s3 uploads vidjob's outputs to Amazon S3 or any S3-compatible service
// (MinIO, Ceph, Garage, versitygw, R2, ...) with the AWS SDK for Go v2.
package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/localdisk"
)

// Defaults and limits for Config.
const (
	// DefaultRegion signs requests when neither Config nor the AWS
	// configuration names a region; S3-compatible services mostly ignore it.
	DefaultRegion = "us-east-1"
	// DefaultPartSize is the multipart part size: a 2 GB output is 256
	// parts (S3 allows 10,000). The uploader holds Concurrency+1 parts in
	// memory at once plus the first, so with DefaultConcurrency a worker
	// uploading a large output holds 40 MiB of parts; 16 MiB parts and 4 at
	// once measured 135 MiB peak RSS for the whole process (bench -suite
	// memory), 8 MiB and 3 keep it under 100 MiB.
	DefaultPartSize = 8 << 20
	// MinPartSize is S3's smallest allowed part (all but the last).
	MinPartSize = 5 << 20
	// DefaultConcurrency is how many parts are uploaded at once.
	DefaultConcurrency = 3
	// DefaultMaxAttempts is how often the SDK tries one request, first try
	// included; more than the SDK's 3 because a failed upload fails a job.
	DefaultMaxAttempts = 8
	// DefaultMaxBackoff caps the SDK's exponential backoff between tries.
	DefaultMaxBackoff = 20 * time.Second
)

// Config says where and how to upload.
type Config struct {
	// Endpoint is the service's base URL, e.g. "http://minio:9000"; empty means
	// Amazon S3.
	Endpoint string
	// Region is the signing region; default from the AWS configuration, else
	// DefaultRegion. An Object's Region overrides it.
	Region string
	// AccessKeyID and SecretAccessKey are static credentials. When both are
	// empty the default AWS credential chain is used (environment, shared
	// files, web identity, ECS/EC2 roles).
	AccessKeyID string
	// SecretAccessKey goes with AccessKeyID.
	SecretAccessKey string
	// PathStyle addresses buckets as ENDPOINT/BUCKET/KEY rather than
	// BUCKET.ENDPOINT/KEY; most self-hosted services need it.
	PathStyle bool
	// PublicURL, when set, is the base of the URLs Put returns, e.g. a CDN in
	// front of the bucket: PublicURL + "/" + key. A "{bucket}" in it is
	// replaced by the bucket name.
	PublicURL string
	// DefaultACL is the canned ACL (e.g. "public-read", Blitline's default)
	// applied when an object's headers do not mention x-amz-acl. Empty sends
	// none, which is what buckets with ACLs disabled (AWS's default since
	// 2023) require.
	DefaultACL string
	// PartSize is the multipart part size in bytes; default DefaultPartSize,
	// at least MinPartSize. Files larger than one part are uploaded in parts,
	// Concurrency at a time; memory use is about PartSize × (Concurrency+1).
	PartSize int64
	// Concurrency is the number of parts uploaded at once; default
	// DefaultConcurrency.
	Concurrency int
	// MaxAttempts is how often the SDK's retryer tries each request; default
	// DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the retryer's wait between tries; default
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Logger receives upload logs; default slog.Default().
	Logger *slog.Logger
}

// Store uploads objects to one S3 service. It is safe for concurrent use.
type Store struct {
	cfg      Config
	endpoint *url.URL // nil for Amazon S3
	region   string
	client   *s3.Client
	uploader *transfermanager.Client
	log      *slog.Logger
}

var _ vidjob.ObjectStore = (*Store)(nil)

// New checks cfg, resolves credentials and region, and returns a Store. It does
// not contact the service.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("s3: set both the access key ID and the secret access key, or neither to use the default AWS credential chain")
	}
	var endpoint *url.URL
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: endpoint %q must be an http or https URL", cfg.Endpoint)
		}
		endpoint = u
	}
	if cfg.DefaultACL != "" {
		if err := vidjob.ValidateHeaders(map[string]string{"x-amz-acl": cfg.DefaultACL}); err != nil {
			return nil, fmt.Errorf("s3: default ACL: %w", err)
		}
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of %d bytes", cfg.PartSize, MinPartSize)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}

	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
				// The default token bucket stops retrying after a burst of
				// failures across all requests; a worker uploading one job at a
				// time would rather retry each request up to MaxAttempts.
				o.RateLimiter = ratelimit.None
			})
		}),
		// Checksums only where an operation requires them: many S3-compatible
		// services reject or mishandle the CRC trailers (aws-chunked) that the
		// SDK adds by default. Payloads are still covered by the SigV4
		// signature's SHA-256.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != nil {
			o.BaseEndpoint = aws.String(strings.TrimRight(cfg.Endpoint, "/"))
		}
		o.UsePathStyle = cfg.PathStyle
	})
	uploader := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = cfg.PartSize
		// Anything larger than one part goes up in parts, so that a failed
		// part is retried alone and memory stays bounded by the part size.
		o.MultipartUploadThreshold = cfg.PartSize
		o.Concurrency = cfg.Concurrency
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		// Abort a failed multipart upload even when the job's context is
		// cancelled, so that its parts do not linger (and cost) in the bucket.
		o.FailTimeout = 30 * time.Second
	})
	return &Store{cfg: cfg, endpoint: endpoint, region: awsCfg.Region, client: client, uploader: uploader, log: log}, nil
}

// Client returns the underlying S3 client, for operations Store does not wrap
// (tests create buckets with it).
func (s *Store) Client() *s3.Client { return s.client }

// Put uploads obj.File to obj.Bucket/obj.Key, streaming it from disk (in
// parts for files larger than Config.PartSize), and returns the object's URL.
//
// obj.Headers are applied as S3 headers (see vidjob.ValidateHeaders for the
// supported names; unknown names are an EINVALID error rather than being
// dropped or sent as metadata, so a client's typo is never silent). A
// Content-Type header overrides obj.ContentType.
//
// Errors are *vidjob.Error: EINVALID for bad names or headers, EUNAVAILABLE when
// the service cannot be reached or keeps failing, EUNPROCESSABLE when it
// refuses the upload (no such bucket, access denied, ...).
func (s *Store) Put(ctx context.Context, obj vidjob.Object) (string, error) {
	if err := vidjob.ValidateBucket(obj.Bucket); err != nil {
		return "", err
	}
	if err := vidjob.ValidateKey(obj.Key); err != nil {
		return "", err
	}
	in, err := s.uploadInput(obj)
	if err != nil {
		return "", err
	}
	f, err := os.Open(obj.File)
	if err != nil {
		return "", fmt.Errorf("s3: put %s/%s: %w", obj.Bucket, obj.Key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("s3: put %s/%s: %w", obj.Bucket, obj.Key, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("s3: put %s/%s: %s is not a regular file", obj.Bucket, obj.Key, obj.File)
	}
	// *os.File is an io.Seeker, so the uploader learns the size and reads the
	// file part by part instead of buffering all of it.
	in.Body = f

	start := time.Now()
	out, err := s.uploader.UploadObject(ctx, in, func(o *transfermanager.Options) {
		if obj.Region != "" && obj.Region != s.region {
			o.S3 = s.regionalClient(obj.Region)
		}
	})
	if err != nil {
		return "", s.classify(ctx, obj, err)
	}
	u := s.URL(obj.Bucket, obj.Key, obj.Region)
	s.log.InfoContext(ctx, "s3 upload done", "bucket", obj.Bucket, "key", obj.Key, "bytes", fi.Size(),
		"etag", aws.ToString(out.ETag), "duration", time.Since(start).Round(time.Millisecond), "url", u)
	return u, nil
}

// regionalClient returns a client that signs for region, for buckets outside
// the store's region.
func (s *Store) regionalClient(region string) *s3.Client {
	return s3.New(s.client.Options(), func(o *s3.Options) { o.Region = region })
}

// uploadInput maps obj's headers onto the uploader's request. Header names are
// case-insensitive; empty values are ignored.
func (s *Store) uploadInput(obj vidjob.Object) (*transfermanager.UploadObjectInput, error) {
	if err := vidjob.ValidateHeaders(obj.Headers); err != nil {
		return nil, err
	}
	in := &transfermanager.UploadObjectInput{
		Bucket: aws.String(obj.Bucket),
		Key:    aws.String(obj.Key),
	}
	if obj.ContentType != "" {
		in.ContentType = aws.String(obj.ContentType)
	}
	aclSeen := false
	for name, value := range obj.Headers {
		lower := strings.ToLower(name)
		if lower == "x-amz-acl" {
			aclSeen = true // even when empty: the client removed the default
		}
		if value == "" {
			continue
		}
		if meta, ok := strings.CutPrefix(lower, vidjob.MetaHeaderPrefix); ok {
			if in.Metadata == nil {
				in.Metadata = map[string]string{}
			}
			in.Metadata[meta] = value
			continue
		}
		switch lower {
		case "x-amz-acl":
			in.ACL = tmtypes.ObjectCannedACL(value)
		case "cache-control":
			in.CacheControl = aws.String(value)
		case "content-type":
			in.ContentType = aws.String(value)
		case "content-disposition":
			in.ContentDisposition = aws.String(value)
		case "content-encoding":
			in.ContentEncoding = aws.String(value)
		case "content-language":
			in.ContentLanguage = aws.String(value)
		case "expires":
			t, err := http.ParseTime(value)
			if err != nil { // ValidateHeaders has checked; kept for safety
				return nil, vidjob.Errorf(vidjob.EINVALID, "The S3 header Expires is not an HTTP date.")
			}
			in.Expires = aws.Time(t)
		case "x-amz-storage-class":
			in.StorageClass = tmtypes.StorageClass(value)
		case "x-amz-server-side-encryption":
			in.ServerSideEncryption = tmtypes.ServerSideEncryption(value)
		case "x-amz-server-side-encryption-aws-kms-key-id":
			in.SSEKMSKeyID = aws.String(value)
		case "x-amz-tagging":
			in.Tagging = aws.String(value)
		case "x-amz-website-redirect-location":
			in.WebsiteRedirectLocation = aws.String(value)
		case "x-amz-grant-read":
			in.GrantRead = aws.String(value)
		case "x-amz-grant-read-acp":
			in.GrantReadACP = aws.String(value)
		case "x-amz-grant-write-acp":
			in.GrantWriteACP = aws.String(value)
		case "x-amz-grant-full-control":
			in.GrantFullControl = aws.String(value)
		default:
			// ValidateHeaders and this switch must list the same headers.
			return nil, vidjob.Errorf(vidjob.EINVALID, "The S3 header %q is not supported.", name)
		}
	}
	if !aclSeen && s.cfg.DefaultACL != "" {
		in.ACL = tmtypes.ObjectCannedACL(s.cfg.DefaultACL)
	}
	return in, nil
}

// classify turns an upload error into a *vidjob.Error whose message a client
// can act on, keeping the SDK's error as the cause for the logs.
func (s *Store) classify(ctx context.Context, obj vidjob.Object, err error) error {
	where := fmt.Sprintf("s3: put %s/%s", obj.Bucket, obj.Key)
	cause := fmt.Errorf("%s: %w", where, err)
	if _, local := localdisk.Fault(err); local {
		// Reading the output from the local disk failed, not the storage
		// service; the worker says so.
		return cause
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return vidjob.WrapError(vidjob.EUNAVAILABLE, cause, "Uploading to bucket %q was cancelled.", obj.Bucket)
	}
	if ctx.Err() != nil {
		return vidjob.WrapError(vidjob.EUNAVAILABLE, cause,
			"Uploading to bucket %q did not finish in time.", obj.Bucket)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		var httpErr interface{ HTTPStatusCode() int }
		status := 0
		if errors.As(err, &httpErr) {
			status = httpErr.HTTPStatusCode()
		}
		if status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
			return vidjob.WrapError(vidjob.EUNAVAILABLE, cause,
				"Uploading to bucket %q failed: the storage service answered %s.", obj.Bucket, apiErr.ErrorCode())
		}
		msg := apiErr.ErrorMessage()
		if msg == "" {
			msg = http.StatusText(status)
		}
		return vidjob.WrapError(vidjob.EUNPROCESSABLE, cause,
			"Uploading to bucket %q failed: %s (%s).", obj.Bucket, apiErr.ErrorCode(), strings.TrimSuffix(msg, "."))
	}
	var netErr net.Error
	var opErr *net.OpError
	var maxAttempts *retry.MaxAttemptsError
	if errors.As(err, &netErr) || errors.As(err, &opErr) || errors.As(err, &maxAttempts) {
		return vidjob.WrapError(vidjob.EUNAVAILABLE, cause,
			"Uploading to bucket %q failed: the storage service could not be reached.", obj.Bucket)
	}
	return cause
}

// URL returns the address of bucket/key as Put reports it: under PublicURL when
// set; else on the configured endpoint, path-style or virtual-host style as
// configured; else on Amazon S3, virtual-host style when the bucket name allows
// it (no dots, which break TLS, no capitals or underscores) and path-style
// otherwise. region may be empty for the store's region.
func (s *Store) URL(bucket, key, region string) string {
	escKey := escapeKey(key)
	if s.cfg.PublicURL != "" {
		base := strings.ReplaceAll(s.cfg.PublicURL, "{bucket}", url.PathEscape(bucket))
		return strings.TrimRight(base, "/") + "/" + escKey
	}
	if region == "" {
		region = s.region
	}
	if s.endpoint != nil {
		u := *s.endpoint
		base := strings.TrimRight(u.Path, "/")
		if s.cfg.PathStyle {
			return u.Scheme + "://" + u.Host + base + "/" + url.PathEscape(bucket) + "/" + escKey
		}
		return u.Scheme + "://" + bucket + "." + u.Host + base + "/" + escKey
	}
	host := "s3." + region + ".amazonaws.com"
	if virtualHostable(bucket) {
		return "https://" + bucket + "." + host + "/" + escKey
	}
	return "https://" + host + "/" + url.PathEscape(bucket) + "/" + escKey
}

// virtualHostable reports whether bucket can be a DNS label under a wildcard
// TLS certificate: 3–63 lower-case letters, digits and hyphens.
func virtualHostable(bucket string) bool {
	if len(bucket) < 3 || len(bucket) > 63 || bucket[0] == '-' || bucket[len(bucket)-1] == '-' {
		return false
	}
	for _, r := range bucket {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// escapeKey percent-escapes each segment of key, keeping the slashes.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}
