-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';

BEGIN;
ALTER TABLE invoices ADD COLUMN paid_at timestamptz;
ALTER TABLE invoices ADD CONSTRAINT invoices_paid_state CHECK (state <> 'paid' OR paid_at IS NOT NULL) NOT VALID;
COMMIT;

ALTER TABLE invoices VALIDATE CONSTRAINT invoices_paid_state;

BEGIN;
-- CONCURRENTLY cannot run here.
CREATE INDEX CONCURRENTLY invoices_paid_at_idx ON invoices (paid_at);
COMMIT;

-- +goose Down
ALTER TABLE invoices DROP CONSTRAINT invoices_paid_state;
ALTER TABLE invoices DROP COLUMN paid_at;
