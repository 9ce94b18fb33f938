-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE customers RENAME TO clients;

-- +goose Down
ALTER TABLE clients RENAME TO customers;
