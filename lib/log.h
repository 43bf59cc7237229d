/*
 * log.h — one line per event, greppable: "TIME LEVEL PROG[PID] file:line: message".
 *
 * Lines go to stderr (which lighttpd and Apache put in their error log) or to LOG_FILE.
 * Levels below the configured one cost one comparison. Callers never pass secrets: keys are
 * logged by id/prefix only, request bodies never. kw_log_json() writes a structured line for
 * security events, so that an admin can grep or jq them.
 */
#ifndef KW_LOG_H
#define KW_LOG_H

#include <sys/types.h>

#include "util.h"

enum kw_log_level { KW_LOG_DEBUG = 0, KW_LOG_INFO, KW_LOG_WARNING, KW_LOG_ERROR };

/* Program name for every line; path NULL = stderr. Returns -1 if the file cannot be opened. */
int kw_log_init(const char *prog, enum kw_log_level level, const char *path) KW_WUR;
void kw_log_set_level(enum kw_log_level level);
/* The process id shown in lines (cached); a child must call kw_log_forked() after fork(). */
pid_t kw_log_pid(void);
void kw_log_forked(void);
int kw_log_enabled(enum kw_log_level level);
/* Parse "debug|info|warning|warn|error|critical" (any case); -1 if unknown. */
int kw_log_level_parse(const char *s);
const char *kw_log_level_name(enum kw_log_level level);

void kw_log_at(enum kw_log_level level, const char *file, int line, const char *fmt, ...)
	KW_PRINTF(4, 5);

#define kw_log(level, ...)                                                                         \
	do {                                                                                       \
		if (kw_log_enabled(level))                                                         \
			kw_log_at(level, __FILE__, __LINE__, __VA_ARGS__);                         \
	} while (0)
#define kw_debug(...) kw_log(KW_LOG_DEBUG, __VA_ARGS__)
#define kw_info(...) kw_log(KW_LOG_INFO, __VA_ARGS__)
#define kw_warn(...) kw_log(KW_LOG_WARNING, __VA_ARGS__)
#define kw_error(...) kw_log(KW_LOG_ERROR, __VA_ARGS__)

/* Write one already-formatted JSON object as a line, prefixed like other lines. */
void kw_log_json(enum kw_log_level level, const char *json);

#endif
