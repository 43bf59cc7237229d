/*
 * heavy.h — a cap on expensive requests shared by every kw-api worker: at most `slots` run at
 * once, and one per client, so that a burst of CSV exports or analytics never occupies every
 * worker and /api/status and the lists keep answering.
 *
 * The slots are byte-range locks (fcntl F_OFD_SETLK, never waiting) on one small file beside the
 * database: bytes 0..slots-1 are the global slots, byte KW_HEAVY_CLIENT_BASE + h (h a hash of
 * the client's identity, KW_HEAVY_CLIENT_BYTES of them) the client's. A process that dies
 * holding a lock loses it with the process, so a killed worker never leaks a slot. Two
 * clients whose identities hash alike share a slot: a false "busy", never a missed one.
 *
 * Each gate (struct kw_heavy, with its own open of the file) serves one request at a time; the
 * locks belong to that open file description, so two gates exclude each other even inside one
 * process: each accept thread of a worker has its own.
 */
#ifndef KW_HEAVY_H
#define KW_HEAVY_H

#include <stdint.h>

#include "util.h"

#define KW_HEAVY_CLIENT_BASE 4096
#define KW_HEAVY_CLIENT_BYTES 65536

struct kw_heavy {
	int fd;		      /* the lock file, -1 until opened */
	int64_t slot, client; /* locked bytes, -1 when none */
};

void kw_heavy_init(struct kw_heavy *h);
/* Open (creating) the lock file at path; -1 (logged) on failure. */
int kw_heavy_open(struct kw_heavy *h, const char *path) KW_WUR;
/* 1 when a global slot of `slots` and the client's slot are now held; 0 when either is taken
 * (nothing held then); -1 (logged) on an unexpected error. */
int kw_heavy_enter(struct kw_heavy *h, int64_t slots, const char *client) KW_WUR;
/* Release whatever is held (nothing if none). */
void kw_heavy_leave(struct kw_heavy *h);
void kw_heavy_close(struct kw_heavy *h);
/* The client's byte offset (exposed for tests). */
int64_t kw_heavy_client_byte(const char *client);

#endif
