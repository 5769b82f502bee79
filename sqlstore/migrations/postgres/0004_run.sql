-- How the attempt that finished a job went (vidjob.Run as JSON: the external
-- commands it ran and its phase times), and when its postback was delivered,
-- so that the delivery's latency after finished_ms can be shown.
ALTER TABLE jobs ADD COLUMN run TEXT;
ALTER TABLE jobs ADD COLUMN delivered_ms BIGINT;
