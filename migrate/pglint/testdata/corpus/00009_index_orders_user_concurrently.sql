-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_id_idx ON orders (user_id);
CREATE INDEX CONCURRENTLY orders_open_idx ON orders (organization_id, placed_at) WHERE shipped_at IS NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS orders_open_idx;
DROP INDEX CONCURRENTLY IF EXISTS orders_user_id_idx;
