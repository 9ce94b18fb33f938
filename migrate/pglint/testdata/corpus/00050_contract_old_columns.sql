-- +goose Up
SET LOCAL lock_timeout = '2s';
-- Contract step: code stopped using these two deployments ago.
ALTER TABLE orders DROP COLUMN IF EXISTS customer_note;
ALTER TABLE products DROP COLUMN legacy_ref;
DROP VIEW IF EXISTS accounts;

-- +goose Down
ALTER TABLE products ADD COLUMN legacy_ref text;
ALTER TABLE orders ADD COLUMN customer_note text;
