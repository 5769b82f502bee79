package vidjob

import "strings"

// S3SourceScheme starts a src that names an object in the server's own S3
// storage rather than an http(s) URL.
const S3SourceScheme = "s3://"

// ParseS3Source splits "s3://BUCKET/KEY" into its bucket and key, which must
// be valid names (ValidateBucket, ValidateSourceKey). ok is false for any other src.
// The key is taken as written, without URL unescaping, so that what a client
// sends is what is read.
func ParseS3Source(src string) (bucket, key string, ok bool, err error) {
	rest, found := strings.CutPrefix(src, S3SourceScheme)
	if !found {
		return "", "", false, nil
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if err := ValidateBucket(bucket); err != nil {
		return "", "", true, Errorf(EINVALID, "src names an S3 bucket that is not valid: %s", ErrorMessage(err))
	}
	if err := ValidateSourceKey(key); err != nil {
		return "", "", true, Errorf(EINVALID, "src names an S3 key that is not valid: %s", ErrorMessage(err))
	}
	return bucket, key, true, nil
}

// S3Source returns the src for an object in the server's S3 storage.
func S3Source(bucket, key string) string { return S3SourceScheme + bucket + "/" + key }

// CheckRead says whether the application may use an object in bucket as a
// source. Unlike destinations, reading needs the bucket to be listed
// explicitly: with shared storage credentials, an open default would let any
// application read every other application's outputs.
func (a *Application) CheckRead(bucket string) error {
	if a.Disabled {
		return Errorf(EFORBIDDEN, "This application is disabled; its jobs are not run. Ask the operator to enable it.")
	}
	for _, b := range a.Buckets {
		if b == bucket {
			return nil
		}
	}
	return Errorf(EFORBIDDEN, "Source bucket %q is not among this application's allowed buckets; reading sources from S3 needs the bucket to be allowed for the application.", bucket)
}
