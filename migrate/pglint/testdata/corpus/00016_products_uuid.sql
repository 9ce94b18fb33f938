-- +goose Up
SET LOCAL lock_timeout = '2s';
CREATE EXTENSION IF NOT EXISTS pgcrypto;
-- Rewrites products: every row gets its own uuid.
ALTER TABLE products ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();

-- +goose Down
ALTER TABLE products DROP COLUMN public_id;
