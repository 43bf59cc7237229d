/*
 * sentry_send.c — delivering error reports: Sentry envelopes POSTed over libcurl (lib/post.c),
 * and the spool directory drained (crash reports written by the fatal-signal handler, and
 * events spooled by kw-api workers, which never do network I/O themselves).
 *
 * Only programs that may block on the network link this file (and so libcurl): kw-fetch after
 * each run, kw-ws at start. A spooled file is claimed by an atomic rename before it is sent,
 * so two senders never send it twice; one the server refuses is put back for the next try.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "post.h"
#include "sentry_priv.h"

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

/* The start of a spooled file (at most cap - 1 bytes: reports and events are small), as a
 * string in text; -1 when it cannot be read or is empty. */
static int read_spooled(const char *path, char *text, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, text, cap - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	return 0;
}

/* Send one claimed report; 0 when the server took it. */
static int send_report(struct kw_sentry *s, const char *path)
{
	char text[REPORT_MAX + 1], program[32] = "unknown", msg[160];
	long long sig = 0, at = 0;
	if (read_spooled(path, text, sizeof(text)) < 0)
		return -1;
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
	snprintf(msg, sizeof(msg), "%s crashed: %s (signal %lld)", program,
		 kw_sentry_signal_name((int)sig), sig);
	const char *tags[] = { "crashed_program", program, "signal",
			       kw_sentry_signal_name((int)sig), NULL };
	if (kw_sentry_queue_event(s, "fatal", msg, tags, at > 0 ? at : kw_now_s()) < 0)
		return -1;
	struct event *e = &s->q[s->n - 1];
	int rc = send_envelope(s, e) == 0 ? 0 : -1;
	free(e->payload);
	e->payload = NULL;
	s->n--;
	return rc;
}

/* Send one spooled event (the event JSON kw_sentry_spool() wrote); 0 when the server took it. */
static int send_event_file(struct kw_sentry *s, const char *path)
{
	char text[SPOOLED_EVENT_MAX + 1];
	int rc = -1;
	if (read_spooled(path, text, sizeof(text)) < 0)
		return -1;
	json_object *o = json_tokener_parse(text), *id = NULL;
	if (!o || !json_object_object_get_ex(o, "event_id", &id) ||
	    !json_object_is_type(id, json_type_string) || json_object_get_string_len(id) != 32) {
		kw_warn("sentry: spooled event %s is malformed; dropped", path);
		json_object_put(o);
		return 0; /* nothing to retry: drop it */
	}
	struct event e;
	kw_strlcpy(e.id, json_object_get_string(id), sizeof(e.id));
	e.payload = text;
	rc = send_envelope(s, &e);
	json_object_put(o);
	return rc;
}

void kw_sentry_send_spool(struct kw_sentry *s)
{
	DIR *d;
	struct dirent *de;
	int sent = 0;
	if (!s || !(d = opendir(s->spool_dir)))
		return;
	while ((de = readdir(d)) && sent < MAX_SPOOL_SENDS) {
		size_t len = strlen(de->d_name);
		int is_crash = !strncmp(de->d_name, "crash-", 6) && len > 13 &&
			       !strcmp(de->d_name + len - 7, ".report");
		int is_event = !strncmp(de->d_name, "event-", 6) && len > 11 &&
			       !strcmp(de->d_name + len - 5, ".json");
		if (!is_crash && !is_event)
			continue;
		char from[800], claimed[840];
		snprintf(from, sizeof(from), "%s/%s", s->spool_dir, de->d_name);
		snprintf(claimed, sizeof(claimed), "%s.sending-%d", from, (int)getpid());
		if (rename(from, claimed) < 0)
			continue; /* another process claimed it first */
		int ok = (is_crash ? send_report(s, claimed) : send_event_file(s, claimed)) == 0;
		if (ok) {
			unlink(claimed);
			kw_info("sentry: sent spooled %s", de->d_name);
			sent++;
		} else if (rename(claimed, from) < 0) {
			kw_warn("sentry: cannot put back %s: %s", de->d_name, strerror(errno));
		}
	}
	closedir(d);
}
