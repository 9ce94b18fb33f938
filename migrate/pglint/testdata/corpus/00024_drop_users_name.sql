-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE users DROP COLUMN IF EXISTS name;

-- +goose Down
ALTER TABLE users ADD COLUMN name text NOT NULL DEFAULT '';
