-- +goose Up
SET LOCAL lock_timeout = '2s';
CREATE TYPE invoice_state AS ENUM ('draft', 'open', 'paid', 'void');

CREATE TABLE invoices (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    bigint        NOT NULL REFERENCES orders (id),
    state       invoice_state NOT NULL DEFAULT 'draft',
    issued_on   date,
    due_on      date,
    amount_cents bigint       NOT NULL
);
ALTER TABLE invoices ADD CONSTRAINT invoices_due_after_issue CHECK (due_on >= issued_on);
ALTER TABLE invoices ADD COLUMN reference text NOT NULL;
CREATE INDEX invoices_order_id_idx ON invoices (order_id);

-- +goose Down
DROP TABLE invoices;
DROP TYPE invoice_state;
