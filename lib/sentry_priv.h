/*
 * sentry_priv.h — what sentry.c (events, queue, spool, crash handler) and sentry_send.c (the
 * libcurl transport) share. Only those two files include it: programs see sentry.h.
 */
#ifndef KW_SENTRY_PRIV_H
#define KW_SENTRY_PRIV_H

#include <stdint.h>

#include "sentry.h"

#define SEND_TIMEOUT_MS 3000
#define MAX_SPOOL_SENDS 50
#define REPORT_MAX 1024
#define SPOOLED_EVENT_MAX 16384

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

/* Append an event to the queue; -1 (logged) when it is full. */
int kw_sentry_queue_event(struct kw_sentry *s, const char *level, const char *message,
			  const char *const *tags, int64_t at);
/* "SIGSEGV", ...: async-signal-safe. */
const char *kw_sentry_signal_name(int sig);

#endif
