-- +goose Up
-- Unsafe: NOT NULL without a default on a table that already has rows.
ALTER TABLE orders ADD COLUMN status text NOT NULL;

-- +goose Down
ALTER TABLE orders DROP COLUMN status;
