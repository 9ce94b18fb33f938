-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';
ALTER TYPE invoice_state ADD VALUE IF NOT EXISTS 'refunded' AFTER 'paid';

-- +goose Down
SELECT 1;
