/*
 * client.c — response bodies for kw-fetch: Kalshi over HTTP, a --replay directory, and
 * --record (contract in fetch.h).
 *
 * HTTP follows docs/KALSHI.md §1 and §6: public endpoints, so no auth headers; a User-Agent
 * naming the product; compression (CURLOPT_ACCEPT_ENCODING ""); no redirects followed (Kalshi
 * only redirects trailing slashes, which we never send, so a 301 is a bug worth a log line);
 * connect and total timeouts; at most KALSHI_MAX_RPS request starts per second; exponential
 * backoff with jitter on 429, 5xx, timeouts and connection failures (Kalshi sends no
 * Retry-After), a bounded number of times; a hard cap on the body, enforced while receiving so
 * an oversized answer is aborted rather than buffered.
 *
 * One curl easy handle is reused, so the connection to Kalshi stays open across pages. A client
 * is used by one thread at a time: during a paginated listing that is run.c's page reader, and
 * kw_client_set_cancel lets the writer end the reader's request or wait at once (the rate cap
 * and backoff therefore hold across threads without locking).
 * Left out: proxies beyond libcurl's own environment handling, HTTP/2 tuning, auth.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "kalshi.h"
#include "log.h"
#include "version.h"

static const char *const kind_dir[KW_KIND_COUNT] = {
	[KW_KIND_MARKETS] = "markets", [KW_KIND_TRADES] = "trades",
	[KW_KIND_EVENTS] = "events",   [KW_KIND_SERIES] = "series",
	[KW_KIND_EVENT] = "event",     [KW_KIND_ORDERBOOK] = "orderbook",
};

struct kw_client {
	struct kw_client_opts o;
	char *base;
	CURL *curl;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE];
	int64_t next_start_us; /* monotonic: earliest start of the next request */
	int64_t http_errors;
	int seq[KW_KIND_COUNT];
	char *replay_dir; /* this run's, NULL when live */
	char *record_run; /* this run's record directory, NULL when not recording */
	int oversize;
	const atomic_int *cancel; /* set by kw_client_set_cancel: the caller gave up waiting */
};

int kw_fetch_sleep_us(int64_t us, const volatile sig_atomic_t *stop)
{
	int64_t end = kw_mono_us() + us;
	for (;;) {
		if (stop && *stop)
			return 1;
		int64_t left = end - kw_mono_us();
		if (left <= 0)
			return 0;
		if (left > 100000)
			left = 100000; /* wake up to notice a stop signal */
		struct timespec ts = { (time_t)(left / 1000000), (long)(left % 1000000) * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* Where the write callback appends (CURLOPT_WRITEDATA). */
struct sink {
	struct kw_client *c;
	struct kw_buf *body;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	if (kw_buf_append(s->body, p, size * n) < 0) {
		s->c->oversize = 1;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	return size * n;
}

static int client_stopped(const struct kw_client *c)
{
	return (c->o.stop && *c->o.stop) || (c->cancel && atomic_load(c->cancel));
}

/* kw_fetch_sleep_us that also ends when the caller cancels: 1 if it ended early. */
static int client_sleep_us(const struct kw_client *c, int64_t us)
{
	int64_t end = kw_mono_us() + us;
	while (!client_stopped(c)) {
		int64_t left = end - kw_mono_us();
		if (left <= 0)
			return 0;
		if (kw_fetch_sleep_us(left < 100000 ? left : 100000, c->o.stop))
			return 1;
	}
	return 1;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct kw_client *c = arg;
	(void)dt, (void)dn, (void)ut, (void)un;
	return client_stopped(c); /* non-zero aborts: stop promptly on SIGTERM or a cancel */
}

void kw_client_set_cancel(struct kw_client *c, const atomic_int *cancel)
{
	c->cancel = cancel;
}

struct kw_client *kw_client_new(const struct kw_client_opts *o)
{
	struct kw_client *c = kw_xcalloc(1, sizeof(*c));
	c->o = *o;
	c->base = kw_xstrdup(o->base ? o->base : "");
	for (size_t n = strlen(c->base); n > 0 && c->base[n - 1] == '/'; n--)
		c->base[n - 1] = '\0';
	return c;
}

void kw_client_free(struct kw_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	free(c->base);
	free(c->replay_dir);
	free(c->record_run);
	free(c);
}

int64_t kw_client_http_errors(const struct kw_client *c)
{
	return c->http_errors;
}

int kw_client_escape(const char *s, struct kw_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char ch = *p;
		int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
			    ch == '~';
		char enc[3] = { '%', hex[ch >> 4], hex[ch & 15] };
		if (plain ? kw_buf_append(out, p, 1) < 0 : kw_buf_append(out, enc, 3) < 0)
			return -1;
	}
	return 0;
}

static int write_file(const char *path, const char *data, size_t len)
{
	char tmp[4096];
	int fd = -1, rc = -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		kw_error("record: cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

int kw_client_begin_run(struct kw_client *c, const char *replay_dir, int64_t run_at)
{
	memset(c->seq, 0, sizeof(c->seq));
	c->http_errors = 0;
	free(c->replay_dir);
	c->replay_dir = replay_dir ? kw_xstrdup(replay_dir) : NULL;
	free(c->record_run);
	c->record_run = NULL;
	if (!c->o.record_dir || replay_dir)
		return 0;
	if (mkdir(c->o.record_dir, 0755) < 0 && errno != EEXIST) {
		kw_error("record: cannot create %s: %s", c->o.record_dir, strerror(errno));
		return -1;
	}
	char path[4096];
	for (int i = 1; i < 100000; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/run%04d", c->o.record_dir, i) >=
		    sizeof(path)) {
			kw_error("record: directory name too long");
			return -1;
		}
		if (mkdir(path, 0755) == 0)
			break;
		if (errno != EEXIST) {
			kw_error("record: cannot create %s: %s", path, strerror(errno));
			return -1;
		}
	}
	c->record_run = kw_xstrdup(path);
	char manifest[4200], ts[32], json[96];
	kw_fmt_rfc3339(run_at, ts, sizeof(ts));
	int n = snprintf(json, sizeof(json), "{\"recorded_at\":\"%s\"}\n", ts);
	snprintf(manifest, sizeof(manifest), "%s/manifest.json", path);
	return write_file(manifest, json, (size_t)n);
}

/* DIR/kind/NNNN.json or DIR/kind/KEY.json; -1 if the key could escape the directory. */
static int body_path(const char *dir, enum kw_fetch_kind kind, const char *key, int seq, char *out,
		     size_t outlen)
{
	int n;
	if (key) {
		if (!*key || key[0] == '.' || strchr(key, '/'))
			return -1;
		n = snprintf(out, outlen, "%s/%s/%s.json", dir, kind_dir[kind], key);
	} else {
		n = snprintf(out, outlen, "%s/%s/%04d.json", dir, kind_dir[kind], seq);
	}
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static enum kw_get replay_get(struct kw_client *c, enum kw_fetch_kind kind, const char *key,
			      int seq, struct kw_buf *body)
{
	char path[4096];
	struct stat sb;
	enum kw_get res = KW_GET_FAILED;
	int fd = -1;
	if (body_path(c->replay_dir, kind, key, seq, path, sizeof(path)) < 0) {
		kw_error("replay: unusable name for %s", kind_dir[kind]);
		return KW_GET_FAILED;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return KW_GET_NOT_FOUND;
		kw_error("replay: cannot open %s: %s", path, strerror(errno));
		return KW_GET_FAILED;
	}
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size > c->o.max_body) {
		kw_error("replay: %s is over the %zu-byte response cap", path, c->o.max_body);
		goto out;
	}
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kw_error("replay: cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (kw_buf_append(body, chunk, (size_t)r) < 0) {
			kw_error("replay: %s is over the %zu-byte response cap", path,
				 c->o.max_body);
			goto out;
		}
	}
	res = KW_GET_OK;
out:
	close(fd);
	return res;
}

static int curl_setup(struct kw_client *c)
{
	if (c->curl)
		return 0;
	c->curl = curl_easy_init();
	if (!c->curl) {
		kw_error("kalshi: cannot initialise libcurl");
		return -1;
	}
	c->headers = curl_slist_append(NULL, "Accept: application/json");
	if (!c->headers) {
		kw_error("kalshi: out of memory building headers");
		return -1;
	}
	long connect_s = c->o.timeout_s < 10 ? (long)c->o.timeout_s : 10;
	CURLcode rc = CURLE_OK;
	/* Every setopt is checked: an unsupported option must not silently weaken a limit. */
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(c->curl, opt, val);                                  \
	} while (0)
	SET(CURLOPT_USERAGENT, KW_PRODUCT "/" KW_VERSION " (+kw-fetch)");
	SET(CURLOPT_HTTPHEADER, c->headers);
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, connect_s);
	SET(CURLOPT_TIMEOUT, (long)c->o.timeout_s);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->o.max_body);
	SET(CURLOPT_ERRORBUFFER, c->curl_err);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, c);
#undef SET
	if (rc != CURLE_OK) {
		kw_error("kalshi: libcurl set-up failed: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

static int retryable_status(long status)
{
	return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

/* Client-side rate cap: request starts 1/max_rps apart. 1 when a stop arrived meanwhile. */
static int rate_wait(struct kw_client *c)
{
	int64_t now = kw_mono_us();
	if (c->next_start_us > now && client_sleep_us(c, c->next_start_us - now))
		return 1;
	c->next_start_us = kw_mono_us() + 1000000 / c->o.max_rps;
	return 0;
}

/* A transfer that got no whole answer, logged; *retry set when another attempt may help. */
static enum kw_get transfer_failed(struct kw_client *c, const char *endpoint, CURLcode cr,
				   int attempt, int *retry)
{
	if (c->oversize || cr == CURLE_FILESIZE_EXCEEDED) {
		kw_error("kalshi: GET %s: response over the %zu-byte cap; aborted", endpoint,
			 c->o.max_body);
		return KW_GET_FAILED;
	}
	*retry = 1;
	kw_error("kalshi: GET %s: %s (%s), attempt %d of %d", endpoint,
		 cr == CURLE_OPERATION_TIMEDOUT ? "timed out"
		 : cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST
			 ? "Kalshi unreachable"
			 : "transfer failed",
		 c->curl_err[0] ? c->curl_err : curl_easy_strerror(cr), attempt + 1,
		 c->o.retries + 1);
	return KW_GET_UNAVAILABLE;
}

/* An HTTP answer other than 200, logged with Kalshi's error code; *retry as above. */
static enum kw_get answer_refused(struct kw_client *c, const char *endpoint, long status,
				  const struct kw_buf *body, int attempt, int *retry)
{
	char code[64], msg[160];
	kw_kalshi_error_parse(body->data, body->len, code, sizeof(code), msg, sizeof(msg));
	*retry = retryable_status(status);
	if (status >= 300 && status < 400) {
		char *loc = NULL;
		curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &loc);
		kw_error("kalshi: GET %s: HTTP %ld redirect to %.160s (not followed; check "
			 "KALSHI_API_BASE)",
			 endpoint, status, loc ? loc : "?");
	} else {
		kw_log(status == 404 ? KW_LOG_WARNING : KW_LOG_ERROR,
		       "kalshi: GET %s: HTTP %ld, error code '%s', message '%s', attempt %d of %d",
		       endpoint, status, code[0] ? code : "-", msg[0] ? msg : "-", attempt + 1,
		       *retry ? c->o.retries + 1 : attempt + 1);
	}
	if (status == 404)
		return KW_GET_NOT_FOUND;
	return *retry ? KW_GET_UNAVAILABLE : KW_GET_FAILED;
}

/* One attempt into body: KW_GET_OK on a 200; anything else is logged here. */
static enum kw_get attempt_get(struct kw_client *c, const char *endpoint, struct kw_buf *body,
			       int attempt, int *retry)
{
	struct sink sink = { c, body };
	*retry = 0;
	kw_buf_reset(body);
	c->oversize = 0;
	c->curl_err[0] = '\0';
	if (curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &sink) != CURLE_OK)
		return KW_GET_FAILED;
	CURLcode cr = curl_easy_perform(c->curl);
	long status = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (cr == CURLE_ABORTED_BY_CALLBACK)
		return KW_GET_STOPPED;
	if (cr == CURLE_OK && status == 200)
		return KW_GET_OK;
	if (cr != CURLE_OK || status != 404) /* a 404 is an answer, not an error */
		c->http_errors++;
	if (cr != CURLE_OK)
		return transfer_failed(c, endpoint, cr, attempt, retry);
	return answer_refused(c, endpoint, status, body, attempt, retry);
}

/* Exponential backoff with up to 50% jitter, so many clients do not sync up. 1 when a stop
 * arrived while waiting. */
static int backoff_wait(struct kw_client *c, const char *endpoint, int64_t *delay_ms)
{
	uint32_t r = 0;
	if (kw_random_bytes(&r, sizeof(r)) < 0)
		r = 0;
	int64_t d = *delay_ms;
	int64_t wait_ms = d + (d / 2 ? (int64_t)(r % (uint32_t)(d / 2 + 1)) : 0);
	kw_info("kalshi: GET %s: retrying in %lld ms", endpoint, (long long)wait_ms);
	if (client_sleep_us(c, wait_ms * 1000))
		return 1;
	if (d < 60000)
		*delay_ms = d * 2;
	return 0;
}

static enum kw_get http_get(struct kw_client *c, const char *path, const char *query,
			    struct kw_buf *body)
{
	struct kw_buf url;
	char endpoint[256];
	enum kw_get res = KW_GET_FAILED;
	kw_buf_init(&url, 0);
	snprintf(endpoint, sizeof(endpoint), "%s%s%.160s", path, query ? "?" : "",
		 query ? query : "");
	if (curl_setup(c) < 0)
		goto out;
	if (kw_buf_printf(&url, "%s%s%s%s", c->base, path, query ? "?" : "", query ? query : "") <
	    0)
		goto out;
	if (curl_easy_setopt(c->curl, CURLOPT_URL, url.data) != CURLE_OK) {
		kw_error("kalshi: bad URL for GET %s", endpoint);
		goto out;
	}
	int64_t delay_ms = c->o.backoff_ms;
	for (int attempt = 0; attempt <= c->o.retries; attempt++) {
		int retry = 0;
		if (rate_wait(c)) {
			res = KW_GET_STOPPED;
			goto out;
		}
		res = attempt_get(c, endpoint, body, attempt, &retry);
		if (res == KW_GET_OK || res == KW_GET_STOPPED)
			goto out;
		if (!retry || attempt == c->o.retries)
			break;
		if (backoff_wait(c, endpoint, &delay_ms)) {
			res = KW_GET_STOPPED;
			goto out;
		}
	}
	if (res == KW_GET_UNAVAILABLE)
		kw_error("kalshi: GET %s: giving up after %d attempts", endpoint, c->o.retries + 1);
out:
	kw_buf_free(&url);
	return res;
}

enum kw_get kw_client_get(struct kw_client *c, enum kw_fetch_kind kind, const char *path,
			  const char *query, const char *key, struct kw_buf *body)
{
	int seq = ++c->seq[kind];
	kw_buf_reset(body);
	if (c->replay_dir)
		return replay_get(c, kind, key, seq, body);
	enum kw_get res = http_get(c, path, query, body);
	if (res == KW_GET_OK && c->record_run) {
		char dir[4096], file[4200];
		snprintf(dir, sizeof(dir), "%s/%s", c->record_run, kind_dir[kind]);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			kw_error("record: cannot create %s: %s", dir, strerror(errno));
		else if (body_path(c->record_run, kind, key, seq, file, sizeof(file)) == 0)
			(void)write_file(file, body->data, body->len);
	}
	return res;
}
