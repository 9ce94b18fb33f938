-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE products ALTER COLUMN price_cents TYPE bigint;
ALTER TABLE order_lines ALTER COLUMN price_cents TYPE bigint USING price_cents::bigint;

-- +goose Down
ALTER TABLE order_lines ALTER COLUMN price_cents TYPE integer;
ALTER TABLE products ALTER COLUMN price_cents TYPE integer;
