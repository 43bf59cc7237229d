/*
 * unblock.c — `kw-admin unblock ADDRESS`: lift a block that repeated failed authentications
 * put on a client address (fcgi/gate.c), before BLOCK_MINUTES run out, e.g. for an office
 * whose dashboard was set up with a wrong key.
 *
 * A block lives in two places: the workers' shared limiter table (DATABASE_PATH-rl.shm, the
 * "b:ADDRESS" entry that refuses requests and the "f:ADDRESS" failure count that leads to it)
 * and SQLite (blocked_addresses for operators, and the limiter's write-behind copy that a
 * restart restores). Both are cleared: the table first, so that no worker can write the entry
 * behind again, then the database in one transaction that also records an address_unblocked
 * security event. ADDRESS may be written in any form of an IPv4 or IPv6 address; it is
 * turned into the canonical form the workers block by (kw_addr_canonical, lib/proxy.h), so
 * "2001:DB8:0::7" lifts the block on "2001:db8::7". On PostgreSQL the block every node
 * enforces is a row of the cluster limiter (lib/store_gcra.h): it and the failure count are
 * deleted first, so the address is served again by every node from its next request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "proxy.h"
#include "ratelimit.h"
#include "store.h"
#include "store_gcra.h"
#include "store_security.h"
#include "util.h"

struct kw_rl *kw_admin_rl_attach(const struct kw_config *cfg, const char *otherwise)
{
	char err[256];
	struct kw_rl *rl = NULL;
	char *path = kw_rl_path(cfg->database_path);
	if (access(path, F_OK) == 0 && !(rl = kw_rl_attach(path, err, sizeof(err))))
		fprintf(stderr, "kw-admin: warning: %s; %s\n", err, otherwise);
	free(path);
	return rl;
}

int kw_admin_unblock(struct kw_config *cfg, int argc, char **argv)
{
	char err[512], key[KW_ADDR_MAX + 3], address[KW_ADDR_MAX];
	uint64_t digests[2];
	int rc = 1, was_blocked = 0;
	if (argc != 1 || kw_addr_canonical(argv[0], address) < 0) {
		fprintf(stderr, "kw-admin: usage: unblock ADDRESS (an IPv4 or IPv6 address)\n");
		return 2;
	}
	const char *prefix[2] = { "b:", "f:" };
	size_t ndigests = 0;
	char *path = kw_rl_path(cfg->database_path);
	struct kw_rl *rl = kw_admin_rl_attach(cfg, "running workers keep the block");
	for (int i = 0; i < 2; i++) {
		snprintf(key, sizeof(key), "%s%s", prefix[i], address);
		if (rl) {
			digests[ndigests++] = kw_rl_digest(rl, key);
			was_blocked |= i == 0 && kw_rl_value(rl, key) > kw_now_us();
			kw_rl_clear(rl, key);
		} else if (kw_rl_digest_offline(path, key, &digests[ndigests], err, sizeof(err)) ==
			   0) {
			ndigests++; /* no table now, but its stored copy may be restored later */
		}
	}
	free(path);
	if (rl)
		kw_rl_close(rl);
	struct kw_store *s = kw_store_open(cfg->db_target, KW_DB_MIGRATE, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "kw-admin: %s\n", err);
		return 1;
	}
	int recorded = 0;
	if (kw_store_gcra_enabled(s)) {
		/* PostgreSQL: the block every node enforces is the cluster limiter's row. */
		char bkey[KW_ADDR_MAX + 3], fkey[KW_ADDR_MAX + 3];
		snprintf(bkey, sizeof(bkey), "b:%s", address);
		snprintf(fkey, sizeof(fkey), "f:%s", address);
		const char *const keys[2] = { bkey, fkey };
		int live = kw_store_gcra_active(s, bkey, 0);
		if (live < 0 || kw_store_gcra_forget(s, keys, 2) < 0) {
			fprintf(stderr, "kw-admin: the database could not be updated\n");
			kw_store_close(s);
			return 1;
		}
		was_blocked |= live;
	}
	if (kw_store_unblock(s, address, digests, ndigests, kw_now_s(), &recorded) == 0) {
		printf("%s %s\n", address,
		       was_blocked || recorded ? "unblocked" : "was not blocked (nothing to do)");
		rc = 0;
	} else {
		fprintf(stderr, "kw-admin: the database could not be updated\n");
	}
	kw_store_close(s);
	return rc;
}
