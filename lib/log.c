/*
 * log.c — the line logger behind log.h. State is per process (program name, level, stream),
 * set once at start-up by kw_log_init(); after that logging only reads it.
 *
 * Each line is built in a stack buffer and written with one write(2), so lines from several
 * worker processes sharing one error log never interleave mid-line (O_APPEND, < PIPE_BUF).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
	char prog[32];
	enum kw_log_level level;
	int fd;
	pid_t pid; /* cached: one getpid(2) fewer per line; 0 = look it up */
} g_log = { "kalshiwhale", KW_LOG_INFO, STDERR_FILENO, 0 };

static const char *const level_names[] = { "debug", "info", "warning", "error" };

int kw_log_init(const char *prog, enum kw_log_level level, const char *path)
{
	kw_strlcpy(g_log.prog, prog, sizeof(g_log.prog));
	g_log.level = level;
	if (path && *path) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0)
			return -1;
		if (g_log.fd != STDERR_FILENO)
			close(g_log.fd);
		g_log.fd = fd;
	}
	return 0;
}

void kw_log_set_level(enum kw_log_level level)
{
	g_log.level = level;
}

pid_t kw_log_pid(void)
{
	if (!g_log.pid)
		g_log.pid = getpid();
	return g_log.pid;
}

void kw_log_forked(void)
{
	g_log.pid = 0;
}

int kw_log_enabled(enum kw_log_level level)
{
	return level >= g_log.level;
}

int kw_log_level_parse(const char *s)
{
	if (!strcasecmp(s, "debug"))
		return KW_LOG_DEBUG;
	if (!strcasecmp(s, "info"))
		return KW_LOG_INFO;
	if (!strcasecmp(s, "warning") || !strcasecmp(s, "warn"))
		return KW_LOG_WARNING;
	if (!strcasecmp(s, "error") || !strcasecmp(s, "critical"))
		return KW_LOG_ERROR;
	return -1;
}

const char *kw_log_level_name(enum kw_log_level level)
{
	return level_names[level];
}

static size_t prefix(char *buf, size_t len, enum kw_log_level level)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	int m = snprintf(buf + n, len - n, ".%03dZ %s %s[%d] ", (int)(tv.tv_usec / 1000),
			 level_names[level], g_log.prog, (int)kw_log_pid());
	return m > 0 ? n + (size_t)m : n;
}

static void emit(char *line, size_t n, size_t cap)
{
	if (n >= cap - 1)
		n = cap - 2; /* truncated: still one line */
	/* Log text may carry bytes from outside; a newline inside would forge a second line. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	ssize_t w;
	do
		w = write(g_log.fd, line, n);
	while (w < 0 && errno == EINTR);
}

void kw_log_at(enum kw_log_level level, const char *file, int line, const char *fmt, ...)
{
	char buf[2048];
	size_t n = prefix(buf, sizeof(buf), level);
	int m = snprintf(buf + n, sizeof(buf) - n, "%s:%d: ", file, line);
	if (m > 0)
		n += (size_t)m;
	if (n < sizeof(buf)) {
		va_list ap;
		va_start(ap, fmt);
		m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += (size_t)m;
	}
	emit(buf, n < sizeof(buf) ? n : sizeof(buf) - 1, sizeof(buf));
}

void kw_log_json(enum kw_log_level level, const char *json)
{
	if (!kw_log_enabled(level))
		return;
	char buf[2048];
	size_t n = prefix(buf, sizeof(buf), level);
	int m = snprintf(buf + n, sizeof(buf) - n, "%s", json);
	if (m > 0)
		n += (size_t)m;
	emit(buf, n < sizeof(buf) ? n : sizeof(buf) - 1, sizeof(buf));
}
