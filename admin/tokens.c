/*
 * tokens.c — `kw-admin token create --scope read|admin --ttl SECONDS` and `kw-admin token
 * revoke JTI`.
 *
 * create mints an HS256 bearer token (lib/auth.h) with JWT_SECRET, JWT_ISSUER and
 * JWT_AUDIENCE, printed alone on standard output, its jti and lifetime on standard error. The
 * lifetime is at most JWT_MAX_TTL_SECONDS, which kw-api also enforces on every token it is
 * shown. revoke records the jti in revoked_tokens and bumps the key generation in kw-api's
 * shared limiter table, as `key revoke` does, so every worker refuses the token on its next
 * request; changing JWT_SECRET still revokes them all at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "auth.h"
#include "ratelimit.h"
#include "store_security.h"

#define TOKEN_USAGE                                                                                \
	"usage: kw-admin token create [--scope read|admin] [--ttl SECONDS]\n"                      \
	"       kw-admin token revoke JTI\n"

static int cmd_create(struct kw_config *cfg, int argc, char **argv)
{
	int scope = KW_SCOPE_READ;
	int64_t ttl = cfg->jwt_max_ttl_s < 3600 ? cfg->jwt_max_ttl_s : 3600;
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--scope") && v) {
			scope = kw_scope_parse(v);
			if (scope == KW_SCOPE_NONE) {
				fprintf(stderr, "kw-admin: --scope must be read or admin\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--ttl") && v) {
			if (kw_parse_i64(v, 1, cfg->jwt_max_ttl_s, &ttl) < 0) {
				fprintf(stderr,
					"kw-admin: --ttl must be 1..%lld seconds "
					"(JWT_MAX_TTL_SECONDS)\n",
					(long long)cfg->jwt_max_ttl_s);
				return 2;
			}
		} else {
			fputs(TOKEN_USAGE, stderr);
			return 2;
		}
	}
	if (strlen(cfg->jwt_secret) < KW_JWT_MIN_SECRET) {
		fprintf(stderr,
			"kw-admin: JWT_SECRET must be set to at least %d bytes to mint "
			"tokens\n",
			KW_JWT_MIN_SECRET);
		return 1;
	}
	int64_t now = kw_now_s();
	char *tok =
		kw_token_mint(cfg->jwt_secret, cfg->jwt_issuer, cfg->jwt_audience, scope, now, ttl);
	struct kw_token_claims cl;
	/* Read back what was minted: the jti to revoke it by comes from the token itself. */
	if (!tok || kw_token_verify_ttl(tok, cfg->jwt_secret, cfg->jwt_issuer, cfg->jwt_audience,
					now, cfg->jwt_max_ttl_s, &cl) != KW_TOKEN_OK) {
		fprintf(stderr, "kw-admin: cannot mint the token\n");
		free(tok);
		return 1;
	}
	printf("%s\n", tok);
	fprintf(stderr, "kw-admin: token jti=%s scope=%s expires in %lld s\n", cl.jti,
		kw_scope_name(scope), (long long)ttl);
	free(tok);
	return 0;
}

static int cmd_revoke(struct kw_config *cfg, const char *jti)
{
	char err[512];
	size_t n = strlen(jti);
	if (!n || n >= sizeof(((struct kw_token_claims *)0)->jti) || !kw_text_is_clean(jti, n)) {
		fprintf(stderr, "kw-admin: JTI must be the token's jti claim (printable text)\n");
		return 2;
	}
	struct kw_store *s = kw_store_open(cfg->db_target, KW_DB_MIGRATE, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "kw-admin: %s\n", err);
		return 1;
	}
	int rc = kw_store_token_revoke(s, jti, kw_now_s());
	kw_store_close(s);
	if (rc < 0) {
		fprintf(stderr, "kw-admin: cannot revoke the token\n");
		return 1;
	}
	struct kw_rl *rl =
		kw_admin_rl_attach(cfg, "running kw-api workers see the change within 10 s");
	if (rl) {
		kw_rl_keys_changed(rl);
		kw_rl_close(rl);
	}
	fprintf(stderr, "kw-admin: token jti=%s %s\n", jti, rc ? "revoked" : "was already revoked");
	return 0;
}

int kw_admin_token(struct kw_config *cfg, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "create"))
		return cmd_create(cfg, argc, argv);
	if (argc == 2 && !strcmp(argv[0], "revoke"))
		return cmd_revoke(cfg, argv[1]);
	fputs(TOKEN_USAGE, stderr);
	return 2;
}
