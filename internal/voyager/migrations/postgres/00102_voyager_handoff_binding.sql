-- +goose Up
-- A handoff token is bound to the browser that started the sign-in on the
-- custom domain: binding is the SHA-256 (hex) of that browser's handoff
-- cookie, so a token sent to someone else's browser signs nobody in.
-- Tokens issued before this change have no binding and are refused.
ALTER TABLE voyager_handoffs ADD COLUMN binding TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE voyager_handoffs DROP COLUMN binding;
