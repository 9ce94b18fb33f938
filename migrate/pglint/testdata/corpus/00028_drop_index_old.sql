-- +goose Up
SET LOCAL lock_timeout = '2s';
DROP INDEX IF EXISTS orders_organization_id_idx;

-- +goose Down
CREATE INDEX orders_organization_id_idx ON orders (organization_id);
