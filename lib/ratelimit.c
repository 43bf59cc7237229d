/*
 * ratelimit.c — the shared GCRA table (contract in ratelimit.h).
 *
 * Why not SQLite per request: one write transaction per request from several workers halves
 * throughput against the FastCGI ceiling and pushes p99 from ~7 ms to 40+ ms (colliding
 * writers sleep in SQLite's busy handler). A limiter must cost far less than the request it
 * guards. So the state every request touches is a fixed-size table in a file mapped
 * MAP_SHARED by all workers (DATABASE_PATH + "-rl.shm"); SQLite only receives a batch of the
 * changed entries about once a second, from one worker, and is read back when the table is
 * (re)created.
 *
 * Layout: a header, then KW_RL_GROUPS groups of KW_RL_WAYS slots. A key's digest picks its
 * group; within a group the slots are searched linearly (8 slots, one or two cache lines).
 * Each group has its own process-shared, robust pthread mutex held for a few dozen
 * instructions: that makes read-decide-write of a TAT atomic across processes (so the limiter
 * is exact: N parallel clients on M workers get exactly `burst` successes), keeps key claiming
 * and eviction consistent with updates, and, being robust, a worker killed while holding it
 * leaves the next locker EOWNERDEAD, not a deadlock (the slot data is whole words, so it is
 * consistent and is kept). Collisions between groups are independent, so workers only ever
 * contend on the same key.
 *
 * A full group reuses an idle slot (TAT in the past: identical to "absent"), never a live one:
 * evicting a slot that is still limiting someone would give that someone a fresh burst, which
 * is how a client could flush another's limit by crowding its group. With no idle slot the
 * newcomer is refused (fail closed) and counted in the header; the table holds KW_RL_GROUPS *
 * KW_RL_WAYS live keys, far more than keys plus active client addresses on one host. Digests
 * are keyed with a per-installation secret (DATABASE_PATH-rl.key, 0600, made on first use),
 * so nobody can compute offline which keys share a group.
 *
 * Creation: the file is locked with flock(2) while it is checked and, if needed, initialised
 * and restored; the header records the kernel's boot id, because a robust mutex that was held
 * when the machine went down would stay locked forever in a file that survived the reboot —
 * after a reboot the table is rebuilt from SQLite instead. It also records its owner (the
 * database file's identity), so that a database deleted and created again does not inherit
 * the old one's limiter state.
 *
 * Several hosts on one PostgreSQL database share their limits through the database instead
 * (lib/store_gcra.h, docs/cluster.md): this table then holds what the host took ahead from it
 * (leases: kw_rl_lease_put/take), the copies of the cluster's blocks and the host's own
 * elections and throttles. Left out: time going backwards (TATs are wall-clock microseconds; a
 * step back only makes the limiter stricter until the clock catches up).
 */
/* The low-level SHA-256 functions are deprecated in OpenSSL 3; see kw_sha256 in auth.c. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "ratelimit.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KW_RL_MAGIC 0x6b77726c67637261ULL /* "kwrlgcra" */
#define KW_RL_VERSION 4
#define KW_RL_GROUPS 4096
#define KW_RL_WAYS 8
#define FLUSH_EVERY_US 1000000

struct rl_slot {
	uint64_t key;	  /* digest | 1; 0 = empty */
	int64_t tat_us;	  /* a lease: until when its units may be used */
	int64_t saved_us; /* tat_us as last collected for SQLite */
	int64_t units;	  /* a lease: units left */
	int64_t rem;	  /* a lease: what the database's bucket had left when it was made */
};

struct rl_group {
	pthread_mutex_t mu;
	struct rl_slot slot[KW_RL_WAYS];
};

struct rl_header {
	uint64_t magic;
	uint32_t version, ngroups, ways, pad;
	char boot_id[48];
	uint64_t owner;
	_Atomic int64_t next_flush_us;
	unsigned char key_check[8]; /* identifies the secret the digests were made with */
	_Atomic uint64_t full_refusals;
	_Atomic uint64_t keys_generation;
};

struct kw_rl {
	int fd;
	size_t size;
	struct rl_header *hdr;
	struct rl_group *groups;
	SHA256_CTX keyed; /* SHA-256 state after one block holding the secret */
	unsigned char key_check[8];
};

#define SECRET_LEN 32

static size_t table_size(void)
{
	size_t hdr = (sizeof(struct rl_header) + 63) & ~(size_t)63;
	return hdr + sizeof(struct rl_group) * KW_RL_GROUPS;
}

static void read_boot_id(char *buf, size_t n)
{
	memset(buf, 0, n);
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return; /* no procfs: the table is then trusted across reboots */
	if (!fgets(buf, (int)n, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * Open the table's file without following a symlink, and use it only if it is a regular file
 * owned by this user (or this is root, e.g. kw-admin acting on the service's table) that no
 * one else may write: it is mapped and written by every worker, so a link planted there would
 * have them overwrite its target, and a file others can write would let them set any limit.
 */
static int open_table_file(const char *path, int create, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	if (fd < 0) {
		snprintf(err, errlen, "ratelimit: cannot open %s: %s%s", path, strerror(errno),
			 errno == ELOOP ? " (a symbolic link is never followed)" : "");
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "ratelimit: cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != geteuid() && geteuid() != 0) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen,
			 "ratelimit: %s is refused: it must be a regular file owned by this user "
			 "and writable by no one else (remove it; it is rebuilt from the database)",
			 path);
		close(fd);
		return -1;
	}
	return fd;
}

/* The secret's file beside the table: "...-rl.shm" -> "...-rl.key". */
static char *secret_path(const char *table)
{
	size_t n = strlen(table);
	if (n >= 4 && !strcmp(table + n - 4, ".shm"))
		n -= 4;
	char *p = kw_xmalloc(n + sizeof(".key"));
	memcpy(p, table, n);
	memcpy(p + n, ".key", sizeof(".key"));
	return p;
}

/*
 * Read the per-installation secret (creating it, 0600, if create and it does not exist; the
 * caller holds the table's lock, so two workers never race to create it). Same rules as the
 * table's file, stricter: nobody else may even read it. *created tells whether it is new.
 */
static int load_secret(struct kw_rl *rl, const char *table, int create, int *created, char *err,
		       size_t errlen)
{
	unsigned char secret[SECRET_LEN], block[64];
	char *path = secret_path(table);
	struct stat st;
	int fd = -1, rc = -1;
	*created = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || kw_random_bytes(secret, sizeof(secret)) < 0 ||
		    write(fd, secret, sizeof(secret)) != (ssize_t)sizeof(secret) || fsync(fd) < 0) {
			snprintf(err, errlen, "ratelimit: cannot create %s: %s", path,
				 strerror(errno));
			if (fd >= 0)
				unlink(path);
			goto out;
		}
		close(fd);
		*created = 1;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		snprintf(err, errlen, "ratelimit: cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != geteuid() && geteuid() != 0) || (st.st_mode & 077)) {
		snprintf(err, errlen,
			 "ratelimit: %s is refused: it must be a regular file owned by this user "
			 "with mode 0600",
			 path);
		goto out;
	}
	if (read(fd, secret, sizeof(secret)) != (ssize_t)sizeof(secret)) {
		snprintf(err, errlen, "ratelimit: %s is not a limiter secret (32 bytes)", path);
		goto out;
	}
	memset(block, 0, sizeof(block));
	memcpy(block, secret, sizeof(secret));
	SHA256_Init(&rl->keyed);
	SHA256_Update(&rl->keyed, block, sizeof(block));
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX c = rl->keyed;
	SHA256_Update(&c, "\0check", 6); /* no limiter key starts with a NUL */
	SHA256_Final(md, &c);
	memcpy(rl->key_check, md, sizeof(rl->key_check));
	rc = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(block, sizeof(block));
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static int init_table(struct kw_rl *rl, const char *boot_id, uint64_t owner, char *err,
		      size_t errlen)
{
	pthread_mutexattr_t at;
	if (pthread_mutexattr_init(&at) ||
	    pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED) ||
	    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST)) {
		snprintf(err, errlen, "ratelimit: cannot set up a shared mutex");
		return -1;
	}
	memset(rl->hdr, 0, table_size());
	for (int i = 0; i < KW_RL_GROUPS; i++) {
		if (pthread_mutex_init(&rl->groups[i].mu, &at)) {
			pthread_mutexattr_destroy(&at);
			snprintf(err, errlen, "ratelimit: cannot initialise a shared mutex");
			return -1;
		}
	}
	pthread_mutexattr_destroy(&at);
	rl->hdr->version = KW_RL_VERSION;
	rl->hdr->ngroups = KW_RL_GROUPS;
	rl->hdr->ways = KW_RL_WAYS;
	kw_strlcpy(rl->hdr->boot_id, boot_id, sizeof(rl->hdr->boot_id));
	rl->hdr->owner = owner;
	memcpy(rl->hdr->key_check, rl->key_check, sizeof(rl->key_check));
	return 0;
}

/* Map the open table file: the header, then the groups on a 64-byte boundary. */
static int map_table(struct kw_rl *rl, const char *path, char *err, size_t errlen)
{
	void *map = mmap(NULL, rl->size, PROT_READ | PROT_WRITE, MAP_SHARED, rl->fd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "ratelimit: cannot map %s: %s", path, strerror(errno));
		return -1;
	}
	rl->hdr = map;
	rl->groups = (struct rl_group *)(void *)((char *)map +
						 ((sizeof(struct rl_header) + 63) & ~(size_t)63));
	return 0;
}

struct kw_rl *kw_rl_open(const char *path, uint64_t owner, kw_rl_restore_fn restore, void *ctx,
			 char *err, size_t errlen)
{
	struct kw_rl *rl = kw_xcalloc(1, sizeof(*rl));
	char boot_id[48];
	int locked = 0;
	rl->fd = open_table_file(path, 1, err, errlen);
	if (rl->fd < 0)
		goto fail;
	if (flock(rl->fd, LOCK_EX) < 0) {
		snprintf(err, errlen, "ratelimit: cannot lock %s: %s", path, strerror(errno));
		goto fail;
	}
	locked = 1;
	int created = 0; /* a new secret: nothing to do beyond rebuilding the table */
	if (load_secret(rl, path, 1, &created, err, errlen) < 0)
		goto fail;
	rl->size = table_size();
	struct stat st;
	if (fstat(rl->fd, &st) < 0) {
		snprintf(err, errlen, "ratelimit: cannot stat %s: %s", path, strerror(errno));
		goto fail;
	}
	int fresh = (size_t)st.st_size != rl->size;
	if (fresh && (ftruncate(rl->fd, 0) < 0 || ftruncate(rl->fd, (off_t)rl->size) < 0)) {
		snprintf(err, errlen, "ratelimit: cannot size %s: %s", path, strerror(errno));
		goto fail;
	}
	if (map_table(rl, path, err, errlen) < 0)
		goto fail;
	read_boot_id(boot_id, sizeof(boot_id));
	if (fresh || rl->hdr->magic != KW_RL_MAGIC || rl->hdr->version != KW_RL_VERSION ||
	    rl->hdr->ngroups != KW_RL_GROUPS || rl->hdr->ways != KW_RL_WAYS ||
	    rl->hdr->owner != owner || strncmp(rl->hdr->boot_id, boot_id, sizeof(boot_id)) ||
	    memcmp(rl->hdr->key_check, rl->key_check, sizeof(rl->key_check))) {
		if (init_table(rl, boot_id, owner, err, errlen) < 0)
			goto fail;
		/* Under a new secret (first start after an upgrade) the stored digests match no
		 * key: they load as a few anonymous entries that expire on their own. */
		if (restore)
			restore(rl, ctx);
		/* Written last: a creator that died midway leaves no magic, so the next one
		 * starts over. */
		atomic_thread_fence(memory_order_release);
		rl->hdr->magic = KW_RL_MAGIC;
		if (msync(rl->hdr, rl->size, MS_ASYNC) < 0) {
			snprintf(err, errlen, "ratelimit: cannot sync %s: %s", path,
				 strerror(errno));
			goto fail;
		}
	}
	flock(rl->fd, LOCK_UN);
	return rl;
fail:
	if (locked)
		flock(rl->fd, LOCK_UN);
	kw_rl_close(rl);
	return NULL;
}

struct kw_rl *kw_rl_attach(const char *path, char *err, size_t errlen)
{
	struct kw_rl *rl = kw_xcalloc(1, sizeof(*rl));
	struct stat st;
	rl->size = table_size();
	rl->fd = open_table_file(path, 0, err, errlen);
	if (rl->fd < 0)
		goto fail;
	if (fstat(rl->fd, &st) < 0 || (size_t)st.st_size != rl->size) {
		snprintf(err, errlen, "ratelimit: %s is not a limiter table", path);
		goto fail;
	}
	if (map_table(rl, path, err, errlen) < 0)
		goto fail;
	if (rl->hdr->magic != KW_RL_MAGIC || rl->hdr->version != KW_RL_VERSION) {
		snprintf(err, errlen, "ratelimit: %s is not a limiter table", path);
		goto fail;
	}
	int created;
	if (load_secret(rl, path, 0, &created, err, errlen) < 0)
		goto fail;
	if (memcmp(rl->hdr->key_check, rl->key_check, sizeof(rl->key_check))) {
		snprintf(err, errlen, "ratelimit: %s was made with another secret", path);
		goto fail;
	}
	return rl;
fail:
	kw_rl_close(rl);
	return NULL;
}

uint64_t kw_rl_keys_generation(const struct kw_rl *rl)
{
	return atomic_load(&rl->hdr->keys_generation);
}

void kw_rl_keys_changed(struct kw_rl *rl)
{
	atomic_fetch_add(&rl->hdr->keys_generation, 1);
}

void kw_rl_close(struct kw_rl *rl)
{
	if (!rl)
		return;
	if (rl->hdr)
		munmap(rl->hdr, rl->size);
	if (rl->fd >= 0)
		close(rl->fd);
	free(rl);
}

char *kw_rl_path(const char *database_path)
{
	size_t n = strlen(database_path);
	char *path = kw_xmalloc(n + sizeof("-rl.shm"));
	memcpy(path, database_path, n);
	memcpy(path + n, "-rl.shm", sizeof("-rl.shm"));
	return path;
}

uint64_t kw_rl_digest(const struct kw_rl *rl, const char *key)
{
	/* Keyed, not a plain hash: keys partly come from clients (addresses), and a client that
	 * could compute which keys share a group (or collide) with another's could crowd or
	 * drain it. SHA-256 from a state that has absorbed one block holding the secret costs
	 * what a plain SHA-256 costs; the digests never leave this host's private files, so the
	 * length extension that rules such a prefix MAC out elsewhere gives nothing here. */
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX c = rl->keyed;
	SHA256_Update(&c, key, strlen(key));
	SHA256_Final(md, &c);
	uint64_t d;
	memcpy(&d, md, sizeof(d));
	return d | 1;
}

int kw_rl_digest_offline(const char *path, const char *key, uint64_t *out, char *err, size_t errlen)
{
	struct kw_rl rl;
	int created;
	memset(&rl, 0, sizeof(rl));
	if (load_secret(&rl, path, 0, &created, err, errlen) < 0)
		return -1;
	*out = kw_rl_digest(&rl, key);
	OPENSSL_cleanse(&rl.keyed, sizeof(rl.keyed));
	return 0;
}

/* A worker killed while holding a group's lock leaves it EOWNERDEAD: the slots are whole words,
 * so the group is still valid and is marked consistent. Any other failure means the shared
 * table is unusable, and carrying on without the lock would break exactness: abort. */
static void lock_or_abort(pthread_mutex_t *mu)
{
	int rc = pthread_mutex_lock(mu);
	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(mu);
	if (rc != 0)
		abort();
}

static struct rl_group *lock_group(struct kw_rl *rl, uint64_t d)
{
	struct rl_group *g = &rl->groups[(d >> 32) % KW_RL_GROUPS];
	lock_or_abort(&g->mu);
	return g;
}

static void unlock_group(struct rl_group *g)
{
	pthread_mutex_unlock(&g->mu);
}

/*
 * The slot for d in g (locked), claiming an empty or idle one if create. NULL if absent and
 * !create, or if create and every slot of the group is still live: a slot that is limiting a
 * client is never given to another (that would hand the first a fresh burst), so the newcomer
 * is refused instead, and counted (kw_rl_full_refusals). *soonest gets the earliest time a
 * slot of the group frees up.
 */
static struct rl_slot *find_slot(struct kw_rl *rl, struct rl_group *g, uint64_t d, int64_t now,
				 int create, int64_t *soonest)
{
	struct rl_slot *empty = NULL, *idle = NULL;
	int64_t first = INT64_MAX;
	for (int i = 0; i < KW_RL_WAYS; i++) {
		struct rl_slot *s = &g->slot[i];
		if (s->key == d)
			return s;
		if (!s->key) {
			if (!empty)
				empty = s;
		} else if (s->tat_us <= now) {
			if (!idle)
				idle = s;
		} else if (s->tat_us < first) {
			first = s->tat_us;
		}
	}
	if (soonest)
		*soonest = first;
	if (!create)
		return NULL;
	struct rl_slot *s = empty ? empty : idle;
	if (!s) {
		atomic_fetch_add(&rl->hdr->full_refusals, 1);
		return NULL;
	}
	s->key = d;
	s->tat_us = 0;
	s->saved_us = -1; /* differs from any TAT: collected at the next flush */
	s->units = s->rem = 0;
	return s;
}

void kw_rl_decide(int64_t tat, int64_t now, int64_t interval, int64_t burst,
		  struct kw_rl_result *res, int64_t *new_tat)
{
	int64_t base = tat > now ? tat : now;
	int64_t next = base + interval;
	int64_t allow_at = next - burst * interval;
	res->limit = burst;
	res->window_s = (burst * interval + 999999) / 1000000;
	if (allow_at > now) {
		res->allowed = 0;
		res->remaining = 0;
		res->retry_after_s = (allow_at - now + 999999) / 1000000;
		if (res->retry_after_s < 1)
			res->retry_after_s = 1;
		res->reset_s = (base - now + 999999) / 1000000;
		*new_tat = tat;
		return;
	}
	res->allowed = 1;
	res->retry_after_s = 0;
	res->remaining = (now - allow_at) / interval;
	res->reset_s = (next - now + 999999) / 1000000;
	*new_tat = next;
}

static void limit(struct kw_rl *rl, const char *key, int64_t now, int64_t interval, int64_t burst,
		  struct kw_rl_result *res, int take)
{
	if (interval < 1)
		interval = 1;
	if (burst < 1)
		burst = 1;
	uint64_t d = kw_rl_digest(rl, key);
	int64_t soonest = INT64_MAX;
	struct rl_group *g = lock_group(rl, d);
	struct rl_slot *s = find_slot(rl, g, d, now, take, &soonest);
	int64_t tat = s ? s->tat_us : 0, new_tat;
	if (take && !s) {
		/* No room (every slot of the group live): fail closed, as if the limit were
		 * reached, until a slot frees up. */
		unlock_group(g);
		kw_rl_decide(INT64_MAX / 4, now, interval, burst, res, &new_tat);
		int64_t wait = soonest > now ? soonest - now : 1;
		res->retry_after_s = (wait + 999999) / 1000000;
		if (res->retry_after_s < 1)
			res->retry_after_s = 1;
		res->reset_s = res->window_s;
		return;
	}
	kw_rl_decide(tat, now, interval, burst, res, &new_tat);
	if (take && res->allowed)
		s->tat_us = new_tat;
	unlock_group(g);
}

void kw_rl_take(struct kw_rl *rl, const char *key, int64_t now_us, int64_t interval_us,
		int64_t burst, struct kw_rl_result *res)
{
	limit(rl, key, now_us, interval_us, burst, res, 1);
}

void kw_rl_peek(struct kw_rl *rl, const char *key, int64_t now_us, int64_t interval_us,
		int64_t burst, struct kw_rl_result *res)
{
	limit(rl, key, now_us, interval_us, burst, res, 0);
	if (!res->allowed)
		return;
	/* Peeking takes nothing: report the quota as it stands, not after one more request. */
	res->remaining = res->remaining + 1 > burst ? burst : res->remaining + 1;
}

int64_t kw_rl_raise(struct kw_rl *rl, const char *key, int64_t until_us)
{
	uint64_t d = kw_rl_digest(rl, key);
	struct rl_group *g = lock_group(rl, d);
	struct rl_slot *s = find_slot(rl, g, d, kw_now_us(), 1, NULL);
	if (!s) {
		unlock_group(g);
		return INT64_MAX; /* no room: "already set", see ratelimit.h */
	}
	int64_t prev = s->tat_us;
	if (until_us > s->tat_us)
		s->tat_us = until_us;
	unlock_group(g);
	return prev;
}

int64_t kw_rl_value(struct kw_rl *rl, const char *key)
{
	uint64_t d = kw_rl_digest(rl, key);
	struct rl_group *g = lock_group(rl, d);
	struct rl_slot *s = find_slot(rl, g, d, 0, 0, NULL);
	int64_t v = s ? s->tat_us : 0;
	unlock_group(g);
	return v;
}

void kw_rl_clear(struct kw_rl *rl, const char *key)
{
	uint64_t d = kw_rl_digest(rl, key);
	struct rl_group *g = lock_group(rl, d);
	struct rl_slot *s = find_slot(rl, g, d, 0, 0, NULL);
	if (s)
		s->tat_us = s->saved_us = 0;
	unlock_group(g);
}

int kw_rl_count_failure(struct kw_rl *rl, const char *client, int64_t now_us, int64_t max_failures,
			int64_t block_us)
{
	char key[96];
	struct kw_rl_result res;
	if (max_failures < 1)
		max_failures = 1;
	snprintf(key, sizeof(key), "f:%s", client);
	kw_rl_take(rl, key, now_us, KW_RL_FAILURE_WINDOW_US / max_failures, max_failures, &res);
	if (res.allowed && res.remaining > 0)
		return 0;
	snprintf(key, sizeof(key), "b:%s", client);
	/* Already blocked (by another worker, or the table had no room): nothing new. */
	return kw_rl_raise(rl, key, now_us + block_us) < now_us;
}

int kw_rl_blocked(struct kw_rl *rl, const char *client, int64_t now_us)
{
	char key[96];
	snprintf(key, sizeof(key), "b:%s", client);
	return kw_rl_value(rl, key) > now_us;
}

void kw_rl_load(struct kw_rl *rl, uint64_t digest, int64_t tat_us)
{
	digest |= 1;
	struct rl_group *g = lock_group(rl, digest);
	struct rl_slot *s = find_slot(rl, g, digest, kw_now_us(), 1, NULL);
	if (!s) {
		unlock_group(g); /* no room: this entry stays in SQLite only */
		return;
	}
	if (tat_us > s->tat_us)
		s->tat_us = tat_us;
	s->saved_us = s->tat_us; /* already in SQLite */
	unlock_group(g);
}

void kw_rl_lease_put(struct kw_rl *rl, const char *key, int64_t now, int64_t units,
		     int64_t until_us, int64_t remaining)
{
	uint64_t d = kw_rl_digest(rl, key);
	struct rl_group *g = lock_group(rl, d);
	struct rl_slot *s = find_slot(rl, g, d, now, 1, NULL);
	if (s) { /* no room: the units are lost, which only ever refuses more */
		if (s->units > 0 && s->tat_us > now) {
			/* Two leases in one: each unit must be used before the sooner end. */
			s->units += units;
			if (until_us < s->tat_us)
				s->tat_us = until_us;
		} else {
			s->units = units;
			s->tat_us = until_us;
		}
		s->rem = remaining;
		s->saved_us = s->tat_us; /* a lease is never written behind */
	}
	unlock_group(g);
}

int kw_rl_lease_take(struct kw_rl *rl, const char *key, int64_t now_us, int64_t *left,
		     int64_t *remaining)
{
	uint64_t d = kw_rl_digest(rl, key);
	int got = 0;
	struct rl_group *g = lock_group(rl, d);
	struct rl_slot *s = find_slot(rl, g, d, 0, 0, NULL);
	if (s && s->units > 0 && s->tat_us > now_us) {
		got = 1;
		*left = --s->units;
		*remaining = s->rem;
		if (!s->units) /* spent: the slot is free again */
			s->tat_us = s->saved_us = 0;
	}
	unlock_group(g);
	return got;
}

int kw_rl_flush_due(struct kw_rl *rl, int64_t now_us)
{
	int64_t next = atomic_load(&rl->hdr->next_flush_us);
	if (now_us < next)
		return 0;
	return atomic_compare_exchange_strong(&rl->hdr->next_flush_us, &next,
					      now_us + FLUSH_EVERY_US);
}

size_t kw_rl_collect(struct kw_rl *rl, int64_t now_us, struct kw_rl_entry *out, size_t max)
{
	size_t n = 0;
	for (int i = 0; i < KW_RL_GROUPS && n < max; i++) {
		struct rl_group *g = &rl->groups[i];
		lock_or_abort(&g->mu);
		for (int j = 0; j < KW_RL_WAYS && n < max; j++) {
			struct rl_slot *s = &g->slot[j];
			if (!s->key || s->tat_us == s->saved_us)
				continue;
			s->saved_us = s->tat_us;
			if (s->tat_us <= now_us)
				continue;
			out[n].key = s->key;
			out[n].tat_us = s->tat_us;
			n++;
		}
		pthread_mutex_unlock(&g->mu);
	}
	return n;
}

size_t kw_rl_capacity(const struct kw_rl *rl)
{
	(void)rl;
	return (size_t)KW_RL_GROUPS * KW_RL_WAYS;
}

uint64_t kw_rl_full_refusals(const struct kw_rl *rl)
{
	return atomic_load(&rl->hdr->full_refusals);
}
