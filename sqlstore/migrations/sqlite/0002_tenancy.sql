-- Each application signs its postbacks with its own secret (filled in by the
-- code for applications created before this migration), may be disabled, and
-- may be limited to a list of destination buckets.
ALTER TABLE applications ADD COLUMN secret TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN disabled_ms INTEGER;

-- No rows for an application means it may write to any bucket.
CREATE TABLE application_buckets (
    application_id TEXT NOT NULL REFERENCES applications (id),
    bucket         TEXT NOT NULL,
    PRIMARY KEY (application_id, bucket)
);
