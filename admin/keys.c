/*
 * keys.c — `kw-admin key create|list|revoke|rotate`: API keys in the api_keys table.
 *
 * A new key is printed once, alone on standard output (so scripts can capture it), with its
 * id, prefix and scope on standard error; only its SHA-256 is stored. Revocation is a
 * timestamp, effective on the next request: after every change kw-admin bumps the key
 * generation in kw-api's shared limiter table (DATABASE_PATH-rl.shm, only if it exists), which
 * makes every worker drop its cached key lookups. Rotation creates a new key with the same
 * name, scope and rate and revokes the old one in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "auth.h"
#include "ratelimit.h"
#include "store_security.h"

#define KEY_USAGE                                                                                  \
	"usage: kw-admin key create --name NAME [--scope read|admin] [--rate N]\n"                 \
	"       kw-admin key list\n"                                                               \
	"       kw-admin key revoke ID\n"                                                          \
	"       kw-admin key rotate ID\n"

/* Tell running kw-api workers that api_keys changed (see the file comment). */
static void signal_workers(const struct kw_config *cfg)
{
	struct kw_rl *rl =
		kw_admin_rl_attach(cfg, "running kw-api workers see the change within 10 s");
	if (rl) {
		kw_rl_keys_changed(rl);
		kw_rl_close(rl);
	}
}

static int open_store(struct kw_config *cfg, struct kw_store **out)
{
	char err[512];
	*out = kw_store_open(cfg->db_target, KW_DB_MIGRATE, err, sizeof(err));
	if (!*out) {
		fprintf(stderr, "kw-admin: %s\n", err);
		return -1;
	}
	return 0;
}

/* Generate, store and print a key; 0 or -1. */
static int create_key(struct kw_store *s, const char *name, int scope, int64_t rate)
{
	char key[KW_KEY_LEN + 1], hash[65], prefix[KW_KEY_PREFIX_LEN + 1];
	int64_t id;
	if (kw_key_generate(key) < 0) {
		fprintf(stderr, "kw-admin: the OS random source failed\n");
		return -1;
	}
	kw_key_hash(key, strlen(key), hash);
	kw_key_prefix(key, prefix);
	if (kw_store_key_insert(s, name, prefix, hash, scope, rate, kw_now_s(), &id) < 0) {
		fprintf(stderr, "kw-admin: cannot store the key\n");
		return -1;
	}
	printf("%s\n", key);
	fflush(stdout);
	fprintf(stderr,
		"kw-admin: created key id=%lld name=%s prefix=%s scope=%s rate=%s%lld — shown "
		"once: store it now\n",
		(long long)id, name, prefix, kw_scope_name(scope), rate ? "" : "default ",
		(long long)rate);
	memset(key, 0, sizeof(key));
	return 0;
}

static int name_ok(const char *n)
{
	size_t len = strlen(n);
	return len >= 1 && len <= 64 && kw_text_is_clean(n, len);
}

static int cmd_create(struct kw_config *cfg, int argc, char **argv)
{
	const char *name = NULL;
	int scope = KW_SCOPE_READ;
	int64_t rate = 0;
	for (int i = 0; i < argc; i += 2) { /* every option takes a value */
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--name") && v) {
			name = v;
		} else if (!strcmp(argv[i], "--scope") && v) {
			scope = kw_scope_parse(v);
			if (scope == KW_SCOPE_NONE) {
				fprintf(stderr, "kw-admin: --scope must be read or admin\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--rate") && v) {
			if (kw_parse_i64(v, 1, 1000000, &rate) < 0) {
				fprintf(stderr, "kw-admin: --rate must be 1..1000000 requests per "
						"minute\n");
				return 2;
			}
		} else {
			fputs(KEY_USAGE, stderr);
			return 2;
		}
	}
	if (!name || !name_ok(name)) {
		fprintf(stderr, "kw-admin: --name is required: 1 to 64 printable characters\n");
		return 2;
	}
	struct kw_store *s;
	if (open_store(cfg, &s) < 0)
		return 1;
	int rc = create_key(s, name, scope, rate) < 0 ? 1 : 0;
	kw_store_close(s);
	if (rc == 0)
		signal_workers(cfg);
	return rc;
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
	if (t)
		kw_fmt_rfc3339(t, buf, n);
	else
		kw_strlcpy(buf, "-", n);
}

static void print_key(const struct kw_key_row *k, void *ctx)
{
	(void)ctx;
	char created[32], used[32];
	fmt_time(k->created_at, created, sizeof(created));
	fmt_time(k->last_used_at, used, sizeof(used));
	printf("%-5lld %-20.64s %-12s %-6s %-8lld %-21s %-21s %s\n", (long long)k->id, k->name,
	       k->prefix, kw_scope_name(k->scope), (long long)k->rate_per_minute, created, used,
	       k->revoked_at ? "revoked" : "active");
}

static int cmd_list(struct kw_config *cfg)
{
	struct kw_store *s;
	if (open_store(cfg, &s) < 0)
		return 1;
	printf("%-5s %-20s %-12s %-6s %-8s %-21s %-21s %s\n", "ID", "NAME", "PREFIX", "SCOPE",
	       "RATE", "CREATED", "LAST USED", "STATUS");
	int rc = kw_store_key_list(s, print_key, NULL) < 0 ? 1 : 0;
	kw_store_close(s);
	return rc;
}

static int cmd_revoke_or_rotate(struct kw_config *cfg, const char *idarg, int rotate)
{
	int64_t id;
	if (kw_parse_i64(idarg, 1, INT64_MAX, &id) < 0) {
		fprintf(stderr, "kw-admin: ID must be a key id from `kw-admin key list`\n");
		return 2;
	}
	struct kw_store *s;
	if (open_store(cfg, &s) < 0)
		return 1;
	int rc = 1;
	struct kw_key_row k;
	int found = kw_store_key_get(s, id, &k);
	if (found <= 0 || k.revoked_at) {
		fprintf(stderr, "kw-admin: no active key with id %lld\n", (long long)id);
		goto out;
	}
	if (kw_store_begin(s) < 0)
		goto out;
	if (rotate && create_key(s, k.name, k.scope, k.rate_per_minute) < 0) {
		kw_store_rollback(s);
		goto out;
	}
	if (kw_store_key_revoke(s, id, kw_now_s()) != 1 || kw_store_commit(s) < 0) {
		kw_store_rollback(s);
		fprintf(stderr, "kw-admin: cannot revoke key %lld\n", (long long)id);
		goto out;
	}
	signal_workers(cfg);
	fprintf(stderr, "kw-admin: revoked key id=%lld prefix=%s\n", (long long)id, k.prefix);
	rc = 0;
out:
	kw_store_close(s);
	return rc;
}

int kw_admin_key(struct kw_config *cfg, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "create"))
		return cmd_create(cfg, argc - 1, argv + 1);
	if (argc == 1 && !strcmp(argv[0], "list"))
		return cmd_list(cfg);
	if (argc == 2 && !strcmp(argv[0], "revoke"))
		return cmd_revoke_or_rotate(cfg, argv[1], 0);
	if (argc == 2 && !strcmp(argv[0], "rotate"))
		return cmd_revoke_or_rotate(cfg, argv[1], 1);
	fputs(KEY_USAGE, stderr);
	return 2;
}
