-- +goose NO TRANSACTION
-- +goose Up
-- Batched backfill; run again until it updates nothing.
UPDATE users SET public_id = gen_random_uuid()
WHERE id IN (SELECT id FROM users WHERE public_id IS NULL LIMIT 10000);

-- +goose Down
SELECT 1;
