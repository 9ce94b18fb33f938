-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_placed_at_not_null CHECK (placed_at IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_placed_at_not_null;
ALTER TABLE orders ALTER COLUMN placed_at SET NOT NULL;
ALTER TABLE orders DROP CONSTRAINT orders_placed_at_not_null;

-- +goose Down
ALTER TABLE orders ALTER COLUMN placed_at DROP NOT NULL;
