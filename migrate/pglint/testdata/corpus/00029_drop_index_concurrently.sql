-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';
DROP INDEX CONCURRENTLY IF EXISTS order_lines_product_id_idx;
CREATE INDEX CONCURRENTLY order_lines_product_quantity_idx ON order_lines (product_id, quantity);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS order_lines_product_quantity_idx;
CREATE INDEX CONCURRENTLY order_lines_product_id_idx ON order_lines (product_id);
