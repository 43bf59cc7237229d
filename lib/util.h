/*
 * util.h — allocation that never returns NULL, and a growable byte buffer with a hard cap.
 *
 * Ownership: kw_x* results belong to the caller (free()). A struct kw_buf owns its bytes;
 * kw_buf_free() releases them. Every buffer that holds outside data is created with a cap:
 * appending past it fails (returns -1) and leaves the buffer as it was, never a silent realloc.
 * Out-of-memory aborts the process: a server that cannot allocate a few bytes cannot answer
 * anything correctly, and lighttpd/systemd restart workers.
 */
#ifndef KW_UTIL_H
#define KW_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define KW_WUR __attribute__((warn_unused_result))
#define KW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define KW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *kw_xmalloc(size_t n);
void *kw_xcalloc(size_t n, size_t size);
void *kw_xrealloc(void *p, size_t n);
char *kw_xstrdup(const char *s);
char *kw_xstrndup(const char *s, size_t n);

struct kw_buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap; /* bytes allocated */
	size_t max; /* hard limit on len; 0 means SIZE_MAX/2 */
};

/* A buffer with no storage yet; max 0 = effectively unbounded (our own output only). */
void kw_buf_init(struct kw_buf *b, size_t max);
void kw_buf_free(struct kw_buf *b);
void kw_buf_reset(struct kw_buf *b);
/* Append; -1 when the result would pass b->max (the buffer is unchanged then). */
int kw_buf_append(struct kw_buf *b, const void *p, size_t n) KW_WUR;
int kw_buf_puts(struct kw_buf *b, const char *s) KW_WUR;
int kw_buf_printf(struct kw_buf *b, const char *fmt, ...) KW_PRINTF(2, 3) KW_WUR;
int kw_buf_vprintf(struct kw_buf *b, const char *fmt, va_list ap) KW_PRINTF(2, 0) KW_WUR;

/* Copy at most dstlen-1 bytes and always terminate; returns strlen(src). */
size_t kw_strlcpy(char *dst, const char *src, size_t dstlen);

/* Strict decimal parse of the whole string into [min, max]; 0 ok, -1 otherwise. */
int kw_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) KW_WUR;

/*
 * part / whole in hundredths of a percent (part * 10000 / whole, truncated), computed in 128
 * bits: upstream quantities such as order-book depth reach 10^15 and more, where part * 10000
 * overflows int64. whole must be > 0; the result fits int64 when 0 <= part <= whole.
 */
int64_t kw_share_bp(int64_t part, int64_t whole);

/* Wall clock in seconds / microseconds, and a monotonic clock in microseconds. */
int64_t kw_now_s(void);
int64_t kw_now_us(void);
int64_t kw_mono_us(void);

/* RFC 3339 UTC with a Z ("2026-11-28T07:55:22Z"); buf needs 21 bytes. */
void kw_fmt_rfc3339(int64_t unix_s, char *buf, size_t len);
/* Parse RFC 3339 (Z or +hh:mm offset, 0-9 fraction digits); -1 if malformed. */
int kw_parse_rfc3339(const char *s, int64_t *unix_s, int32_t *micros) KW_WUR;

/* 1 when s[0..n) is valid UTF-8 with no C0/C1 control characters or DEL. */
int kw_text_is_clean(const char *s, size_t n);
/* 1 when url names a PostgreSQL database (postgresql:// or postgres://). */
int kw_url_is_postgres(const char *url);
/* url with a password (user:PASSWORD@ or password=...) shown as "***", into buf. */
const char *kw_url_masked(const char *url, char *buf, size_t len);

/* Fill p with n bytes from the OS random source; -1 on failure. */
int kw_random_bytes(void *p, size_t n) KW_WUR;

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void kw_hex(const void *p, size_t n, char *out);

/* Constant-time comparison of two equal-length byte strings; 1 when equal. */
int kw_ct_equal(const void *a, const void *b, size_t n);

/* FNV-1a, 64 bits: a short, stable hash for table slots and change stamps, the same on every
 * host. Unkeyed, so a table whose keys a client chooses must bound its chains some other way.
 * Start with KW_FNV1A_INIT; each call continues the hash h with more bytes. */
#define KW_FNV1A_INIT 14695981039346656037ULL
uint64_t kw_fnv1a(uint64_t h, const void *p, size_t n);
uint64_t kw_fnv1a_str(uint64_t h, const char *s);

#endif
