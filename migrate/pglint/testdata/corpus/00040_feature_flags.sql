-- +goose Up
SET LOCAL lock_timeout = '2s';
CREATE TABLE feature_flags (
    key         text PRIMARY KEY,
    enabled     boolean NOT NULL DEFAULT false,
    rollout_pct smallint NOT NULL DEFAULT 0 CHECK (rollout_pct BETWEEN 0 AND 100),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO feature_flags (key, enabled) VALUES
    ('new-checkout', false),
    ('invoice-pdf', true)
ON CONFLICT (key) DO NOTHING;

-- +goose Down
DROP TABLE feature_flags;
