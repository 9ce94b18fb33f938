-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE products ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(description, ''))) STORED;

-- +goose Down
ALTER TABLE products DROP COLUMN search;
