package diskstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/vidjob/vidjob"
)

// Get copies the object BUCKET/KEY into the file at path, for s3:// sources,
// stopping with ETOOLARGE past maxBytes (0: no limit). A missing object is an
// EUNPROCESSABLE error naming it.
func (s *Store) Get(ctx context.Context, bucket, key, path string, maxBytes int64) (int64, error) {
	f, fi, err := s.open(bucket, key)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, vidjob.Errorf(vidjob.EUNPROCESSABLE, "Source %s does not exist.", vidjob.S3Source(bucket, key))
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if maxBytes > 0 && fi.Size() > maxBytes {
		return 0, vidjob.Errorf(vidjob.ETOOLARGE, "Source is larger than the %d-byte limit (%d bytes).", maxBytes, fi.Size())
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("diskstore: get: %w", err)
	}
	var r io.Reader = f
	if maxBytes > 0 {
		r = io.LimitReader(f, maxBytes+1)
	}
	n, copyErr := io.Copy(out, &ctxReader{ctx, r})
	closeErr := out.Close()
	switch {
	case maxBytes > 0 && n > maxBytes:
		return n, vidjob.Errorf(vidjob.ETOOLARGE, "Source is larger than the %d-byte limit.", maxBytes)
	case copyErr != nil:
		return n, fmt.Errorf("diskstore: get %s/%s: %w", bucket, key, copyErr)
	case closeErr != nil:
		return n, fmt.Errorf("diskstore: get %s/%s: %w", bucket, key, closeErr)
	}
	return n, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Delete removes the object BUCKET/KEY; a missing object is no error, so a
// clean-up that runs twice succeeds twice.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	name, err := s.objectName(bucket, key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("diskstore: delete %s: %w", name, err)
	}
	return nil
}
