-- +goose Up
SET LOCAL lock_timeout = '2s';
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE audit.events (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id    bigint,
    action      text NOT NULL,
    payload     jsonb
) PARTITION BY RANGE (occurred_at);

CREATE TABLE audit.events_2024 PARTITION OF audit.events
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE audit.events_2025 PARTITION OF audit.events
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

CREATE INDEX events_actor_idx ON audit.events (actor_id, occurred_at);

-- +goose Down
DROP SCHEMA audit CASCADE;
