/*
 * sentry.h — error reporting to Sentry (or any server speaking its envelope protocol) when
 * SENTRY_DSN is set; with no DSN nothing is ever sent and every function here is a no-op.
 *
 * Protocol: events are sent as envelopes (https://develop.sentry.dev/sdk/envelopes/) by POST to
 * {scheme}://{host}{path}/api/{project}/envelope/ with
 *   X-Sentry-Auth: Sentry sentry_version=7, sentry_client=kalshiwhale/VERSION, sentry_key=KEY
 * One envelope = a header line {event_id, sent_at}, an item header {type:"event", length}, and
 * the event JSON {event_id, timestamp, platform, level, logger, release, environment,
 * server_name, message:{formatted}, tags}. Events carry only our own text (route patterns,
 * status codes, signal names), never request data, keys, the DSN's secret or settings.
 *
 * Crashes: kw_sentry_start() installs handlers for fatal signals that write a small report into
 * SENTRY_SPOOL_DIR with async-signal-safe calls only, then let the signal kill the process.
 * kw-api's workers spool their events there too (kw_sentry_spool: no network I/O in a
 * worker); kw-fetch sends the spool after every run and kw-ws at start (kw_sentry_send_spool,
 * each file claimed by an atomic rename, so two senders never send one twice).
 *
 * Ownership: kw_sentry_start() returns an owned handle (NULL without a DSN); kw_sentry_free()
 * releases it. Captured events wait in a small bounded queue until kw_sentry_flush() (kw-fetch,
 * at exit) or kw_sentry_spool() (kw-api, after the reply is out).
 * At most KW_SENTRY_MAX_PER_MIN events a minute are queued per process, so an error storm
 * cannot turn into a flood of outbound requests.
 */
#ifndef KW_SENTRY_H
#define KW_SENTRY_H

#include <stddef.h>

#include "config.h"
#include "util.h"

#define KW_SENTRY_QUEUE 16
#define KW_SENTRY_MAX_PER_MIN 20

struct kw_sentry;

/* Parse a DSN into its envelope URL (>= 512 bytes) and public key (>= 128 bytes). 0, or -1
 * with a reason in why (which never repeats the DSN). */
int kw_sentry_parse_dsn(const char *dsn, char *url, size_t urllen, char *key, size_t keylen,
			char *why, size_t whylen) KW_WUR;

/* With SENTRY_DSN set: a handle, fatal-signal handlers installed, spooled crash reports from
 * earlier runs sent. NULL when SENTRY_DSN is empty (or cannot be used: logged). */
struct kw_sentry *kw_sentry_start(const struct kw_config *cfg, const char *program);
void kw_sentry_free(struct kw_sentry *s);

/* Queue one event. level: "fatal", "error" or "warning". tags: name, value pairs ending with
 * NULL (may be NULL). Copies everything; s may be NULL. */
void kw_sentry_capture(struct kw_sentry *s, const char *level, const char *message,
		       const char *const *tags);
/* Write the queued events into the spool directory, for a sender to deliver (kw-api's
 * workers: no network I/O in a worker). Returns how many were written. s may be NULL. */
int kw_sentry_spool(struct kw_sentry *s);

/* sentry_send.c (links libcurl): send the queued events now (each with a timeout of a few
 * seconds; returns how many the server accepted; failures are logged and dropped), and send
 * what is in the spool directory (crash reports, spooled events). s may be NULL. */
int kw_sentry_flush(struct kw_sentry *s);
void kw_sentry_send_spool(struct kw_sentry *s);
/* Events waiting in the queue. */
int kw_sentry_pending(const struct kw_sentry *s);

#endif
