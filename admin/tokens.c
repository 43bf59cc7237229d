/*
 * tokens.c — `kw-admin token create --scope read|admin --ttl SECONDS`: mint an HS256 bearer
 * token (lib/auth.h) with JWT_SECRET, JWT_ISSUER and JWT_AUDIENCE, printed alone on standard
 * output. Tokens cannot be revoked one by one (that is what short lifetimes are for); changing
 * JWT_SECRET revokes them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "auth.h"

#define MAX_TTL_S (30LL * 86400)
#define TOKEN_USAGE "usage: kw-admin token create [--scope read|admin] [--ttl SECONDS]\n"

int kw_admin_token(struct kw_config *cfg, int argc, char **argv)
{
	int scope = KW_SCOPE_READ;
	int64_t ttl = 3600;
	if (argc < 1 || strcmp(argv[0], "create")) {
		fputs(TOKEN_USAGE, stderr);
		return 2;
	}
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--scope") && v) {
			scope = kw_scope_parse(v);
			if (scope == KW_SCOPE_NONE) {
				fprintf(stderr, "kw-admin: --scope must be read or admin\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--ttl") && v) {
			if (kw_parse_i64(v, 1, MAX_TTL_S, &ttl) < 0) {
				fprintf(stderr, "kw-admin: --ttl must be 1..%lld seconds\n",
					(long long)MAX_TTL_S);
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
	char *tok = kw_token_mint(cfg->jwt_secret, cfg->jwt_issuer, cfg->jwt_audience, scope,
				  kw_now_s(), ttl);
	if (!tok) {
		fprintf(stderr, "kw-admin: cannot mint the token\n");
		return 1;
	}
	printf("%s\n", tok);
	fprintf(stderr, "kw-admin: token scope=%s expires in %lld s\n", kw_scope_name(scope),
		(long long)ttl);
	free(tok);
	return 0;
}
