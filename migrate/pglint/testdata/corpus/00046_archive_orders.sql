-- +goose Up
SET LOCAL lock_timeout = '2s';
CREATE TABLE orders_archive (LIKE orders INCLUDING ALL);
INSERT INTO orders_archive SELECT * FROM orders WHERE placed_at < now() - interval '3 years';
DELETE FROM orders WHERE placed_at < now() - interval '3 years';
CREATE INDEX orders_archive_placed_at_idx ON orders_archive (placed_at);

-- +goose Down
DROP TABLE orders_archive;
