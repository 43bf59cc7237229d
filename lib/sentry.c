/*
 * sentry.c — Sentry envelopes over libcurl, a bounded event queue, and crash reports through a
 * spool directory (contract in sentry.h).
 *
 * The one piece of process-wide mutable state is `crash`: a fatal-signal handler can reach
 * nothing else. It is written once by kw_sentry_start() before the handlers are installed and
 * only read afterwards; the handler formats its report by hand (no stdio, no malloc) and uses
 * only open/write/close/getpid/time/raise, which POSIX lists as async-signal-safe.
 *
 * What it leaves out: breadcrumbs, stack traces (a C stack walk is not async-signal-safe;
 * the core dump has it), sessions, the store endpoint (envelopes replace it), retries of a
 * failed send (error reports are best effort; a crash report stays spooled until it is sent).
 */
#include "sentry.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "post.h"
#include "version.h"

#define SEND_TIMEOUT_MS 3000
#define MAX_SPOOL_SENDS 10
#define REPORT_MAX 1024

struct event {
	char id[33];
	char *payload; /* the event JSON, owned */
};

struct kw_sentry {
	char url[512];
	char auth[256];
	char program[32];
	char environment[16];
	char server_name[64];
	char spool_dir[400];
	struct event q[KW_SENTRY_QUEUE];
	int n;
	int64_t window_start, in_window; /* per-minute cap */
};

static struct {
	char prefix[480]; /* "<spool>/crash-" */
	char program[32];
} crash;

/* ---- the fatal-signal handler (async-signal-safe only) ------------------------------------- */

static size_t put_str(char *b, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		b[at++] = *s++;
	return at;
}

static size_t put_num(char *b, size_t at, size_t cap, long long v)
{
	char tmp[24];
	int n = 0;
	if (v < 0) {
		at = put_str(b, at, cap, "-");
		v = -v;
	}
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof(tmp));
	while (n && at + 1 < cap)
		b[at++] = tmp[--n];
	return at;
}

static void on_fatal(int sig)
{
	char path[600], buf[256];
	size_t n = put_str(path, 0, sizeof(path), crash.prefix);
	n = put_num(path, n, sizeof(path), (long long)getpid());
	n = put_str(path, n, sizeof(path), "-");
	n = put_num(path, n, sizeof(path), (long long)time(NULL));
	n = put_str(path, n, sizeof(path), ".report");
	path[n] = '\0';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		size_t m = put_str(buf, 0, sizeof(buf), "program=");
		m = put_str(buf, m, sizeof(buf), crash.program);
		m = put_str(buf, m, sizeof(buf), "\nsignal=");
		m = put_num(buf, m, sizeof(buf), sig);
		m = put_str(buf, m, sizeof(buf), "\ntime=");
		m = put_num(buf, m, sizeof(buf), (long long)time(NULL));
		m = put_str(buf, m, sizeof(buf), "\npid=");
		m = put_num(buf, m, sizeof(buf), (long long)getpid());
		m = put_str(buf, m, sizeof(buf), "\n");
		ssize_t w = write(fd, buf, m);
		(void)w;
		close(fd);
	}
	/* SA_RESETHAND restored the default action and SA_NODEFER leaves the signal unblocked:
	 * this ends the process the way the signal would have (core dump included). */
	raise(sig);
}

static void install_crash_handler(const struct kw_sentry *s)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	snprintf(crash.prefix, sizeof(crash.prefix), "%s/crash-", s->spool_dir);
	kw_strlcpy(crash.program, s->program, sizeof(crash.program));
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < KW_ARRAY_LEN(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* ---- events -------------------------------------------------------------------------------- */

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGFPE: return "SIGFPE";
	case SIGILL: return "SIGILL";
	case SIGABRT: return "SIGABRT";
	default: return "signal";
	}
}

/* Append an event to the queue; -1 (logged) when it is full. */
static int queue_event(struct kw_sentry *s, const char *level, const char *message,
		       const char *const *tags, int64_t at)
{
	unsigned char raw[16];
	if (s->n == KW_SENTRY_QUEUE) {
		kw_warn("sentry: queue full; event dropped");
		return -1;
	}
	struct event *e = &s->q[s->n];
	if (kw_random_bytes(raw, sizeof(raw)) < 0) {
		kw_warn("sentry: no randomness for an event id; event dropped");
		return -1;
	}
	for (int i = 0; i < 16; i++)
		snprintf(e->id + 2 * i, 3, "%02x", raw[i]);
	char release[48];
	snprintf(release, sizeof(release), "kalshiwhale@%s", KW_VERSION);
	json_object *o = json_object_new_object(), *msg = json_object_new_object();
	json_object *t = json_object_new_object();
	json_object_object_add(o, "event_id", json_object_new_string(e->id));
	json_object_object_add(o, "timestamp", json_object_new_int64(at));
	json_object_object_add(o, "platform", json_object_new_string("c"));
	json_object_object_add(o, "level", json_object_new_string(level));
	json_object_object_add(o, "logger", json_object_new_string(s->program));
	json_object_object_add(o, "release", json_object_new_string(release));
	json_object_object_add(o, "environment", json_object_new_string(s->environment));
	json_object_object_add(o, "server_name", json_object_new_string(s->server_name));
	json_object_object_add(msg, "formatted", json_object_new_string(message));
	json_object_object_add(o, "message", msg);
	json_object_object_add(t, "program", json_object_new_string(s->program));
	for (int i = 0; tags && tags[i] && tags[i + 1]; i += 2)
		json_object_object_add(t, tags[i], json_object_new_string(tags[i + 1]));
	json_object_object_add(o, "tags", t);
	e->payload = kw_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	s->n++;
	return 0;
}

void kw_sentry_capture(struct kw_sentry *s, const char *level, const char *message,
		       const char *const *tags)
{
	if (!s)
		return;
	int64_t now = kw_now_s();
	if (now - s->window_start >= 60) {
		s->window_start = now;
		s->in_window = 0;
	}
	if (s->in_window >= KW_SENTRY_MAX_PER_MIN)
		return; /* an error storm: the first few per minute are enough */
	s->in_window++;
	if (queue_event(s, level, message, tags, now) < 0)
		return;
}

int kw_sentry_pending(const struct kw_sentry *s)
{
	return s ? s->n : 0;
}

/* POST one envelope; 0 when the server answered 2xx. */
static int send_envelope(struct kw_sentry *s, const struct event *e)
{
	int rc = -1;
	char ts[32], head[160], item[96], why[128];
	long status = 0;
	struct kw_buf body;
	const char *headers[] = { "Content-Type: application/x-sentry-envelope", s->auth, NULL };
	kw_buf_init(&body, 0);
	kw_fmt_rfc3339(kw_now_s(), ts, sizeof(ts));
	snprintf(head, sizeof(head), "{\"event_id\":\"%s\",\"sent_at\":\"%s\"}\n", e->id, ts);
	snprintf(item, sizeof(item),
		 "{\"type\":\"event\",\"length\":%zu,\"content_type\":\"application/json\"}\n",
		 strlen(e->payload));
	if (kw_buf_puts(&body, head) < 0 || kw_buf_puts(&body, item) < 0 ||
	    kw_buf_puts(&body, e->payload) < 0 || kw_buf_puts(&body, "\n") < 0)
		goto out;
	if (kw_http_post(s->url, headers, body.data, body.len, SEND_TIMEOUT_MS, &status, why,
			 sizeof(why)) < 0) {
		kw_warn("sentry: event %s not sent: %s", e->id, why);
		goto out;
	}
	if (status < 200 || status > 299) {
		kw_warn("sentry: event %s refused with HTTP %ld", e->id, status);
		goto out;
	}
	rc = 0;
out:
	kw_buf_free(&body);
	return rc;
}

int kw_sentry_flush(struct kw_sentry *s)
{
	int sent = 0;
	if (!s)
		return 0;
	for (int i = 0; i < s->n; i++) {
		if (send_envelope(s, &s->q[i]) == 0)
			sent++;
		free(s->q[i].payload);
		s->q[i].payload = NULL;
	}
	s->n = 0;
	return sent;
}

/* ---- the spool ----------------------------------------------------------------------------- */

/* Send one claimed report; 0 when the server took it. */
static int send_report(struct kw_sentry *s, const char *path)
{
	char text[REPORT_MAX + 1], program[32] = "unknown", msg[160];
	long long sig = 0, at = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, text, REPORT_MAX);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!strncmp(line, "program=", 8) && kw_text_is_clean(line + 8, strlen(line + 8)))
			kw_strlcpy(program, line + 8, sizeof(program));
		else if (!strncmp(line, "signal=", 7))
			sig = strtoll(line + 7, NULL, 10);
		else if (!strncmp(line, "time=", 5))
			at = strtoll(line + 5, NULL, 10);
	}
	snprintf(msg, sizeof(msg), "%s crashed: %s (signal %lld)", program, signal_name((int)sig),
		 sig);
	const char *tags[] = { "crashed_program", program, "signal", signal_name((int)sig), NULL };
	if (queue_event(s, "fatal", msg, tags, at > 0 ? at : kw_now_s()) < 0)
		return -1;
	struct event *e = &s->q[s->n - 1];
	int rc = send_envelope(s, e) == 0 ? 0 : -1;
	free(e->payload);
	e->payload = NULL;
	s->n--;
	return rc;
}

static void send_spool(struct kw_sentry *s)
{
	DIR *d = opendir(s->spool_dir);
	struct dirent *de;
	int sent = 0;
	if (!d)
		return;
	while ((de = readdir(d)) && sent < MAX_SPOOL_SENDS) {
		size_t len = strlen(de->d_name);
		if (strncmp(de->d_name, "crash-", 6) || len < 7 ||
		    strcmp(de->d_name + len - 7, ".report"))
			continue;
		char from[800], claimed[840];
		snprintf(from, sizeof(from), "%s/%s", s->spool_dir, de->d_name);
		snprintf(claimed, sizeof(claimed), "%s.sending-%d", from, (int)getpid());
		if (rename(from, claimed) < 0)
			continue; /* another process claimed it first */
		if (send_report(s, claimed) == 0) {
			unlink(claimed);
			kw_info("sentry: sent crash report %s", de->d_name);
			sent++;
		} else if (rename(claimed, from) < 0) {
			kw_warn("sentry: cannot put back crash report %s: %s", de->d_name,
				strerror(errno));
		}
	}
	closedir(d);
}

struct kw_sentry *kw_sentry_start(const struct kw_config *cfg, const char *program)
{
	char key[128], why[160];
	if (!cfg->sentry_dsn || !*cfg->sentry_dsn)
		return NULL;
	struct kw_sentry *s = kw_xcalloc(1, sizeof(*s));
	if (kw_sentry_parse_dsn(cfg->sentry_dsn, s->url, sizeof(s->url), key, sizeof(key), why,
				sizeof(why)) < 0) {
		kw_error("sentry: SENTRY_DSN cannot be used (expected %s); errors are not reported",
			 why);
		free(s);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		kw_error("sentry: cannot initialise libcurl; errors are not reported");
		free(s);
		return NULL;
	}
	snprintf(s->auth, sizeof(s->auth),
		 "X-Sentry-Auth: Sentry sentry_version=7, sentry_client=kalshiwhale/%s, "
		 "sentry_key=%s",
		 KW_VERSION, key);
	kw_strlcpy(s->program, program, sizeof(s->program));
	kw_strlcpy(s->environment,
		   cfg->environment == KW_ENV_PRODUCTION ? "production" : "development",
		   sizeof(s->environment));
	if (gethostname(s->server_name, sizeof(s->server_name)) < 0)
		kw_strlcpy(s->server_name, "unknown", sizeof(s->server_name));
	s->server_name[sizeof(s->server_name) - 1] = '\0';
	if (cfg->sentry_spool_dir && *cfg->sentry_spool_dir) {
		kw_strlcpy(s->spool_dir, cfg->sentry_spool_dir, sizeof(s->spool_dir));
	} else {
		/* Next to the database: a directory every program can already write. */
		const char *db = cfg->database_path, *slash = strrchr(db, '/');
		snprintf(s->spool_dir, sizeof(s->spool_dir), "%.*s/crash-reports",
			 slash ? (int)(slash - db) : 1, slash ? db : ".");
	}
	if (mkdir(s->spool_dir, 0700) < 0 && errno != EEXIST)
		kw_warn("sentry: cannot create spool directory %s: %s", s->spool_dir,
			strerror(errno));
	install_crash_handler(s);
	send_spool(s);
	return s;
}

void kw_sentry_free(struct kw_sentry *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		free(s->q[i].payload);
	free(s);
	curl_global_cleanup();
}
