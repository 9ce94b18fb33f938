-- +goose Up
SET LOCAL lock_timeout = '2s';
ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey;
ALTER TABLE order_lines ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE order_lines ADD PRIMARY KEY (id);

-- +goose Down
ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey;
ALTER TABLE order_lines DROP COLUMN id;
ALTER TABLE order_lines ADD PRIMARY KEY (order_id, line_no);
