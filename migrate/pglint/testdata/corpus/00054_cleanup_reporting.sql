-- +goose NO TRANSACTION
-- +goose Up
SET lock_timeout = '2s';
REINDEX INDEX orders_placed_at_idx;
REINDEX INDEX CONCURRENTLY order_lines_order_id_idx;
TRUNCATE report_cache;
TRUNCATE report_runs CASCADE;
DROP SCHEMA reporting_v1 CASCADE;

-- +goose Down
CREATE SCHEMA reporting_v1;
