-- +goose Up
SET LOCAL lock_timeout = '2s';
-- Blocks writes to orders for the whole build.
CREATE INDEX orders_placed_at_idx ON orders (placed_at);

-- +goose Down
DROP INDEX orders_placed_at_idx;
