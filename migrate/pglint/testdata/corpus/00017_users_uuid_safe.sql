-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE users ADD COLUMN public_id uuid;
ALTER TABLE users ALTER COLUMN public_id SET DEFAULT gen_random_uuid();

-- +goose Down
ALTER TABLE users DROP COLUMN public_id;
