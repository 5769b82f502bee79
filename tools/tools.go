//go:build tools

// Package tools pins the versions of programs that vidjob's tests run but that
// vidjob itself never links. Keeping them in this separate module keeps their
// dependencies out of vidjob's go.mod; scripts/install-tools.sh builds them into
// tools/bin.
package tools

import (
	// versitygw is an Apache-2.0 S3 gateway; the s3 package's tests upload to it
	// as a real S3-compatible server.
	_ "github.com/versity/versitygw/cmd/versitygw"
)
