-- Custom presets an application created with POST /presets. definition is
-- the preset in Elastic Transcoder's JSON shape, with its Id; only the
-- application that created a preset sees it.
CREATE TABLE app_presets (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    name           TEXT NOT NULL,
    definition     TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    UNIQUE (application_id, name)
);
