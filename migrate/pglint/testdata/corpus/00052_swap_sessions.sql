-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';

-- Rebuild sessions under a new name, then swap it into place.
CREATE TABLE sessions_new (LIKE sessions INCLUDING DEFAULTS);
INSERT INTO sessions_new SELECT * FROM sessions WHERE expires_at > now();
CREATE INDEX sessions_new_user_idx ON sessions_new (user_id);
ALTER TABLE sessions RENAME TO sessions_old;
ALTER TABLE sessions_new RENAME TO sessions;
-- The running version writes to the new sessions table from here on.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
ALTER TABLE sessions_old RENAME TO sessions;
