-- +goose Up
SET LOCAL lock_timeout = '2s';
CREATE MATERIALIZED VIEW product_sales AS
    SELECT product_id, sum(quantity) AS units, sum(quantity * price_cents) AS revenue_cents
    FROM order_lines
    GROUP BY product_id
WITH NO DATA;
CREATE UNIQUE INDEX product_sales_product_id_idx ON product_sales (product_id);

-- +goose Down
DROP MATERIALIZED VIEW product_sales;
