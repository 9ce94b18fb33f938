-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_number_key UNIQUE (organization_id, number);

-- +goose Down
ALTER TABLE orders DROP CONSTRAINT orders_number_key;
