/*
 * heavy.c — the shared cap on expensive requests (contract in heavy.h).
 *
 * fcntl record locks rather than a counter in shared memory: the kernel releases them when a
 * worker exits or is killed mid-request, so there is nothing to repair, and F_OFD_SETLK answers
 * at once, so a refused request costs two system calls. Open file description locks (Linux
 * 3.15), not classic POSIX ones: those belong to the process, so two accept threads of one
 * worker would both "hold" a slot, and one thread's unlock would free the other's.
 */
#include "heavy.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void kw_heavy_init(struct kw_heavy *h)
{
	h->fd = -1;
	h->slot = h->client = -1;
}

int kw_heavy_open(struct kw_heavy *h, const char *path)
{
	struct stat st;
	/* Like the limiter's table: a symlink planted at the path is never followed, and only a
	 * regular file serves as the lock file. */
	h->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
	if (h->fd < 0) {
		kw_error("heavy: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(h->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		kw_error("heavy: %s is not a regular file", path);
		close(h->fd);
		h->fd = -1;
		return -1;
	}
	return 0;
}

/* 1 locked, 0 held through another open file description, -1 error. */
static int lock_byte(int fd, int64_t at, int type)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = (short)type;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)at;
	fl.l_len = 1;
	fl.l_pid = 0; /* required for open file description locks */
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 1;
	if (errno == EACCES || errno == EAGAIN)
		return 0;
	kw_error("heavy: fcntl lock failed: %s", strerror(errno));
	return -1;
}

int64_t kw_heavy_client_byte(const char *client)
{
	uint64_t x = kw_fnv1a_str(KW_FNV1A_INIT, client ? client : "");
	return KW_HEAVY_CLIENT_BASE + (int64_t)(x % KW_HEAVY_CLIENT_BYTES);
}

int kw_heavy_enter(struct kw_heavy *h, int64_t slots, const char *client)
{
	if (h->fd < 0)
		return -1;
	kw_heavy_leave(h);
	int64_t cb = kw_heavy_client_byte(client);
	int rc = lock_byte(h->fd, cb, F_WRLCK);
	if (rc <= 0)
		return rc;
	h->client = cb;
	for (int64_t i = 0; i < slots; i++) {
		rc = lock_byte(h->fd, i, F_WRLCK);
		if (rc < 0)
			break;
		if (rc == 1) {
			h->slot = i;
			return 1;
		}
	}
	kw_heavy_leave(h);
	return rc < 0 ? -1 : 0;
}

void kw_heavy_leave(struct kw_heavy *h)
{
	if (h->fd < 0)
		return;
	if (h->slot >= 0)
		(void)lock_byte(h->fd, h->slot, F_UNLCK);
	if (h->client >= 0)
		(void)lock_byte(h->fd, h->client, F_UNLCK);
	h->slot = h->client = -1;
}

void kw_heavy_close(struct kw_heavy *h)
{
	kw_heavy_leave(h);
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}
