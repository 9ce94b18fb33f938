-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';
ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_fk
    FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;
ALTER TABLE order_lines VALIDATE CONSTRAINT order_lines_order_fk;

-- +goose Down
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_fk;
