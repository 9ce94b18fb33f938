-- +goose Up
-- Data only: backfill in one statement (small table).
UPDATE orders SET status = 'placed' WHERE status IS NULL AND placed_at IS NOT NULL;
UPDATE orders SET status = 'draft' WHERE status IS NULL;

-- +goose Down
SELECT 1;
