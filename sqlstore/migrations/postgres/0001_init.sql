-- Applications are the API's clients; a job names one by its unguessable ID.
CREATE TABLE applications (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- One row per accepted job. request and result are the domain's JSON; state and
-- progress move as the worker goes.
CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    state          TEXT NOT NULL,
    progress       DOUBLE PRECISION NOT NULL DEFAULT 0,
    request        TEXT NOT NULL,
    result         TEXT,
    postback_state TEXT NOT NULL DEFAULT 'none',
    created_ms     BIGINT NOT NULL,
    updated_ms     BIGINT NOT NULL,
    finished_ms    BIGINT
);
CREATE INDEX jobs_by_application ON jobs (application_id, created_ms);

-- The billing ledger: the primary key on job_id makes a second charge for the
-- same job impossible, whatever the code does.
CREATE TABLE charges (
    job_id                 TEXT PRIMARY KEY REFERENCES jobs (id),
    application_id         TEXT NOT NULL REFERENCES applications (id),
    duration_ms            BIGINT NOT NULL,
    minutes                BIGINT NOT NULL,
    price_per_minute_micro BIGINT NOT NULL,
    amount_micro           BIGINT NOT NULL,
    created_ms             BIGINT NOT NULL
);
CREATE INDEX charges_by_application ON charges (application_id, created_ms);

-- Every try to deliver a job's results to its postback_url.
CREATE TABLE postback_attempts (
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    attempt     BIGINT NOT NULL,
    url         TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    error       TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    PRIMARY KEY (job_id, attempt)
);
