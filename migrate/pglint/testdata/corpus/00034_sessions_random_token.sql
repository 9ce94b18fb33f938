-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE sessions ADD COLUMN nonce double precision DEFAULT random();
ALTER TABLE sessions ADD COLUMN seq bigserial;
ALTER TABLE sessions ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- +goose Down
ALTER TABLE sessions DROP COLUMN created_at, DROP COLUMN seq, DROP COLUMN nonce;
