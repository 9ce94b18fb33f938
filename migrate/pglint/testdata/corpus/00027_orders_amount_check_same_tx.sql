-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE order_lines ADD CONSTRAINT order_lines_qty_sane CHECK (quantity < 100000) NOT VALID;
-- Still in goose's transaction: the ADD's ACCESS EXCLUSIVE lock is held during the scan.
ALTER TABLE order_lines VALIDATE CONSTRAINT order_lines_qty_sane;

-- +goose Down
ALTER TABLE order_lines DROP CONSTRAINT order_lines_qty_sane;
