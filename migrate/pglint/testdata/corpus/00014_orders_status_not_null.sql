-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE orders ALTER COLUMN status SET NOT NULL;

-- +goose Down
ALTER TABLE orders ALTER COLUMN status DROP NOT NULL;
