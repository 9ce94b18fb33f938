-- +goose Up
SET LOCAL lock_timeout = '2s';

CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    sku         varchar(64)   NOT NULL,
    title       text          NOT NULL,
    description text,
    price_cents integer       NOT NULL CHECK (price_cents >= 0),
    currency    char(3)       NOT NULL DEFAULT 'EUR',
    attributes  jsonb         NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz   NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE UNIQUE INDEX products_sku_key ON products (sku);
CREATE INDEX products_attributes_idx ON products USING gin (attributes jsonb_path_ops);

-- +goose Down
DROP TABLE products;
