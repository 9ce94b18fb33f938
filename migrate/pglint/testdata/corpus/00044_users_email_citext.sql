-- +goose Up
SET LOCAL lock_timeout = '2s';
CREATE EXTENSION IF NOT EXISTS citext;
ALTER TABLE users ALTER COLUMN email TYPE citext;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email);

-- +goose Down
ALTER TABLE users ALTER COLUMN email TYPE text;
