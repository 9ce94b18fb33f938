-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE products ADD COLUMN tags text[] NOT NULL DEFAULT ARRAY[]::text[];
ALTER TABLE products ADD COLUMN slug text NOT NULL DEFAULT lower('untitled');
ALTER TABLE products ADD COLUMN legacy_ref text DEFAULT make_legacy_ref();

-- +goose Down
ALTER TABLE products DROP COLUMN legacy_ref, DROP COLUMN slug, DROP COLUMN tags;
