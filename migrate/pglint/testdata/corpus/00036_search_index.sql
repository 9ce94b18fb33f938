-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';
CREATE INDEX CONCURRENTLY products_search_idx ON products USING gin (search);

-- +goose Down
DROP INDEX CONCURRENTLY products_search_idx;
