-- 0012_token_revocations.sql — bearer tokens revoked one by one (`kw-admin token revoke JTI`).
--
-- Keyed by the token's jti claim (kw-admin mints 128 random bits). kw-api reads a row only for
-- a token whose signature and claims already passed, and caches the answer per worker until
-- kw-admin signals a change, so revocation costs what a key lookup costs. A token lives at most
-- JWT_MAX_TTL_SECONDS (at most a year), so kw-admin drops rows revoked longer ago than that.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    revoked_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
