-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE orders RENAME COLUMN note TO customer_note;

-- +goose Down
ALTER TABLE orders RENAME COLUMN customer_note TO note;
