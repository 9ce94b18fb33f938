-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_total_nonnegative CHECK (total_cents >= 0);

-- +goose Down
ALTER TABLE orders DROP CONSTRAINT orders_total_nonnegative;
