-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';
ALTER TABLE webhooks ADD COLUMN disabled_at timestamptz;
RESET lock_timeout;
-- The timeout is gone again from here on.
ALTER TABLE webhooks ADD COLUMN failure_count integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE webhooks DROP COLUMN failure_count, DROP COLUMN disabled_at;
