-- +goose Up
SELECT set_config('lock_timeout', '3s', true);
SELECT set_config('statement_timeout', '15min', true);
ALTER TABLE organizations ADD COLUMN billing_email text;
COMMENT ON COLUMN organizations.billing_email IS 'Where invoices go; falls back to the owner.';

-- +goose Down
ALTER TABLE organizations DROP COLUMN billing_email;
