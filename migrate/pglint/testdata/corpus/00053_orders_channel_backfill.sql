-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN channel text;
-- Backfills every row while the ALTER's lock is held.
UPDATE orders SET channel = 'web' WHERE channel IS NULL;
ALTER TABLE orders ADD COLUMN warehouse_id bigint DEFAULT 1 REFERENCES warehouses (id);
ALTER TABLE orders ADD COLUMN courier_id bigint REFERENCES couriers (id);

-- +goose Down
ALTER TABLE orders DROP COLUMN courier_id, DROP COLUMN warehouse_id, DROP COLUMN channel;
