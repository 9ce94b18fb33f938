-- +goose Up
SET LOCAL lock_timeout = '2s';
-- Expand step of a rename: the new name as a view, readable by both versions.
CREATE OR REPLACE VIEW accounts AS
    SELECT id, email, created_at FROM users;

-- +goose Down
DROP VIEW accounts;
