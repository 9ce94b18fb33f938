-- +goose Up
SET LOCAL lock_timeout = '2s';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION order_total(p_order_id bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(quantity * price_cents), 0)
    FROM order_lines
    WHERE order_id = p_order_id;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reporting') THEN
        CREATE ROLE reporting NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

GRANT SELECT ON orders, order_lines, products TO reporting;

-- +goose Down
REVOKE SELECT ON orders, order_lines, products FROM reporting;
DROP FUNCTION order_total(bigint);
