-- +goose Up
SET LOCAL lock_timeout = '2s';
-- Forgot NO TRANSACTION: Postgres refuses this.
CREATE INDEX CONCURRENTLY products_title_idx ON products (title);

-- +goose Down
DROP INDEX products_title_idx;
