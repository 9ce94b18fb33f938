-- +goose Up
SET LOCAL lock_timeout = '2s';
CREATE TABLE webhooks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL,
    url             text   NOT NULL,
    secret          text   NOT NULL DEFAULT encode(gen_random_bytes(32), 'hex'),
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- New table: adding constraints and indexes locks nobody out.
ALTER TABLE webhooks ADD CONSTRAINT webhooks_org_fk FOREIGN KEY (organization_id) REFERENCES organizations (id);
ALTER TABLE webhooks ADD CONSTRAINT webhooks_url_key UNIQUE (organization_id, url);
CREATE INDEX webhooks_org_idx ON webhooks (organization_id);

CREATE TABLE webhook_deliveries (
    webhook_id bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    attempt    integer NOT NULL DEFAULT 1,
    status     integer,
    sent_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
