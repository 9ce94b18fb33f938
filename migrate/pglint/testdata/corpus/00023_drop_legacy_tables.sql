-- +goose Up
SET LOCAL lock_timeout = '2s';
DROP TABLE IF EXISTS public.legacy_carts, legacy_cart_items CASCADE;

-- +goose Down
CREATE TABLE legacy_carts (id bigint PRIMARY KEY);
CREATE TABLE legacy_cart_items (cart_id bigint, product_id bigint);
