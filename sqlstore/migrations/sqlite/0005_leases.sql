-- One row per running attempt of a River job (a transcode or an accelerated
-- part): the attempt renews expires_ms every few seconds, any worker takes
-- over a lease past it, and every change the attempt makes to its job is
-- conditional on its token still being here (docs/ARCHITECTURE.md, failover).
-- Times are the database's clock in Unix milliseconds, so that machines with
-- different clocks judge a lease alike.
CREATE TABLE job_leases (
    river_job_id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    host TEXT NOT NULL,
    holder TEXT NOT NULL,
    acquired_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX job_leases_expires ON job_leases (expires_ms);
CREATE INDEX job_leases_host ON job_leases (host);
