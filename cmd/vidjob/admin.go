package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// adminToken returns the operator's token for the dashboard and /metrics: the
// flag's value when set; otherwise the one kept in DATA/admin-token, made (and
// logged, once) at first start. The dashboard is never open without it.
func adminToken(flag, dataDir string, logger *slog.Logger) (string, error) {
	if flag != "" {
		if len(flag) < 16 {
			return "", errors.New("--admin-token must be at least 16 characters")
		}
		return flag, nil
	}
	path := filepath.Join(dataDir, "admin-token")
	b, err := os.ReadFile(path)
	if err == nil {
		token := strings.TrimSpace(string(b))
		if len(token) < 16 {
			return "", fmt.Errorf("%s holds a token shorter than 16 characters; delete it to make a new one", path)
		}
		return token, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("make admin token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	// O_EXCL: two processes starting at once on one data directory agree on the
	// first token written.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return adminToken("", dataDir, logger)
	}
	if err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	logger.Info("admin token created for the dashboard and /metrics; it is shown only this once and kept in the data directory",
		"admin_token", token, "file", path)
	return token, nil
}
