/*
 * sentry.c — Sentry events: a bounded event queue, the spool directory they and crash reports
 * are written to, and the crash handler (contract in sentry.h). No network I/O here: that is
 * sentry_send.c, which only the programs that may block on the network link.
 *
 * The one piece of process-wide mutable state is `crash`: a fatal-signal handler can reach
 * nothing else. It is written once by kw_sentry_start() before the handlers are installed and
 * only read afterwards; the handler formats its report by hand (no stdio, no malloc) and uses
 * only open/write/close/getpid/time/raise, which POSIX lists as async-signal-safe.
 *
 * What it leaves out: breadcrumbs, stack traces (a C stack walk is not async-signal-safe;
 * the core dump has it), sessions, the store endpoint (envelopes replace it), retries of a
 * failed direct send (best effort; what is spooled stays spooled until it is sent).
 */
#include "sentry.h"

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
#include "sentry_priv.h"
#include "version.h"

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

const char *kw_sentry_signal_name(int sig)
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

int kw_sentry_queue_event(struct kw_sentry *s, const char *level, const char *message,
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
	kw_hex(raw, 16, e->id);
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
	if (kw_sentry_queue_event(s, level, message, tags, now) < 0)
		return;
}

int kw_sentry_pending(const struct kw_sentry *s)
{
	return s ? s->n : 0;
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
	return s;
}

void kw_sentry_free(struct kw_sentry *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		free(s->q[i].payload);
	free(s);
}

int kw_sentry_spool(struct kw_sentry *s)
{
	int written = 0;
	if (!s)
		return 0;
	for (int i = 0; i < s->n; i++) {
		char tmp[600], path[600];
		snprintf(path, sizeof(path), "%s/event-%s.json", s->spool_dir, s->q[i].id);
		snprintf(tmp, sizeof(tmp), "%s/.event-%s.tmp", s->spool_dir, s->q[i].id);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		size_t len = strlen(s->q[i].payload);
		if (fd < 0 || write(fd, s->q[i].payload, len) != (ssize_t)len) {
			kw_warn("sentry: event %s not spooled in %s: %s", s->q[i].id, s->spool_dir,
				strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(tmp);
			}
		} else if (close(fd) < 0 || rename(tmp, path) < 0) {
			kw_warn("sentry: event %s not spooled: %s", s->q[i].id, strerror(errno));
			unlink(tmp);
		} else {
			written++;
		}
		free(s->q[i].payload);
		s->q[i].payload = NULL;
	}
	s->n = 0;
	return written;
}
