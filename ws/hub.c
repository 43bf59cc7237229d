/*
 * hub.c — kw-ws's process state: shared messages, per-client send queues, the per-address
 * connection table, following the store and fanning new rows out to subscribers, heartbeats
 * and the ws_stats report.
 *
 * Fan-out: each new alert or trade becomes one shared message; clients whose subscription
 * matches get a reference on their queue. Batches whose content depends on the subscription
 * (whale_alerts, market_update, initial_data) are built once for every unfiltered client and
 * per client only for filtered ones. A queue that would pass KW_WS_QUEUE_MAX messages or
 * KW_WS_QUEUE_BYTES closes that client (1008): a slow reader never makes the others wait and
 * never makes the process grow without bound.
 *
 * Following: every KW_WS_POLL_MS the hub asks SQLite for PRAGMA data_version (no I/O); on
 * PostgreSQL it reads the data generation when a NOTIFY from kw-fetch's commit (any node's)
 * arrived on its connection, or every KW_WS_FALLBACK_MS. Only when another process committed
 * does it read alerts, trades and fetch runs past its cursors,
 * KW_WS_FOLLOW_BATCH rows at a time. A larger backlog goes out batch by batch, the next one
 * when no healthy client's queue is more than half full (at most KW_WS_BACKLOG_WAIT_MS later),
 * so a burst reaches every reader that keeps up and overflows only one that does not. The
 * market snapshot behind initial_data is read once per commit and filtered per client.
 * A failure is logged and retried KW_WS_STORE_RETRY_MS later; cursors only move forward after
 * rows were read, so nothing committed is skipped.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "ws.h"

#define ADDR_BUCKETS 4096
/* Batches per tick: a backlog is fanned out in steps of KW_WS_FOLLOW_BATCH rows with the event
 * loop running in between, so that healthy clients drain their queues and only a client that
 * really stopped reading overflows. */
#define FOLLOW_ROUNDS 1

struct kw_addr_count {
	struct kw_addr_count *next;
	int64_t count;
	char addr[KW_WS_ADDR_MAX];
};

struct kw_msg *kw_msg_new(const char *json, size_t len)
{
	struct kw_msg *m = kw_xmalloc(sizeof(*m) + LWS_PRE + len + 1);
	m->refs = 1;
	m->len = len;
	m->payload = m->buf + LWS_PRE;
	memcpy(m->payload, json, len);
	m->payload[len] = '\0';
	return m;
}

void kw_msg_unref(struct kw_msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

static json_object *now_json(void)
{
	char ts[32];
	kw_fmt_rfc3339(kw_now_s(), ts, sizeof(ts));
	return json_object_new_string(ts);
}

struct kw_msg *kw_msg_envelope(const char *type, json_object *data)
{
	json_object *o = json_object_new_object();
	size_t len = 0;
	json_object_object_add(o, "type", json_object_new_string(type));
	if (data)
		json_object_object_add(o, "data", data);
	json_object_object_add(o, "timestamp", now_json());
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	struct kw_msg *m = kw_msg_new(s ? s : "{}", s ? len : 2);
	json_object_put(o);
	return m;
}

static void queue_drop(struct kw_client *c)
{
	while (c->qlen) {
		kw_msg_unref(c->q[c->qhead]);
		c->q[c->qhead] = NULL;
		c->qhead = (c->qhead + 1) % KW_WS_QUEUE_MAX;
		c->qlen--;
	}
	c->qhead = 0;
	c->qbytes = 0;
}

void kw_client_close(struct kw_client *c, int code, const char *reason)
{
	if (c->close_code)
		return;
	c->close_code = code;
	c->close_reason = reason;
	queue_drop(c);
	lws_callback_on_writable(c->wsi);
	/* A reader that never drains its socket never becomes writable: a deadline ends it. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

void kw_client_send(struct kw_hub *h, struct kw_client *c, struct kw_msg *m)
{
	(void)h;
	if (c->close_code)
		return;
	if (c->qlen == KW_WS_QUEUE_MAX || c->qbytes + m->len > KW_WS_QUEUE_BYTES) {
		kw_warn("ws: client %s: send queue full (%d messages, %zu bytes); closing it",
			c->addr, c->qlen, c->qbytes);
		kw_client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "send queue overflow");
		return;
	}
	m->refs++;
	c->q[(c->qhead + c->qlen) % KW_WS_QUEUE_MAX] = m;
	c->qlen++;
	c->qbytes += m->len;
	lws_callback_on_writable(c->wsi);
}

void kw_client_release(struct kw_client *c)
{
	queue_drop(c);
	kw_buf_free(&c->rx);
	kw_sub_free(&c->sub);
}

static size_t addr_hash(const char *a)
{
	return kw_fnv1a_str(KW_FNV1A_INIT, a) % ADDR_BUCKETS;
}

static struct kw_addr_count **addr_slot(struct kw_hub *h, const char *addr)
{
	struct kw_addr_count **p = &h->addr_table[addr_hash(addr)];
	while (*p && strcmp((*p)->addr, addr))
		p = &(*p)->next;
	return p;
}

int64_t kw_hub_addr_count(struct kw_hub *h, const char *addr)
{
	struct kw_addr_count **p = addr_slot(h, addr);
	return *p ? (*p)->count : 0;
}

void kw_hub_attach(struct kw_hub *h, struct kw_client *c)
{
	struct kw_addr_count **p = addr_slot(h, c->addr);
	if (!*p) {
		*p = kw_xcalloc(1, sizeof(**p));
		kw_strlcpy((*p)->addr, c->addr, sizeof((*p)->addr));
	}
	(*p)->count++;
	c->next = h->clients;
	if (h->clients)
		h->clients->prev = c;
	h->clients = c;
	h->nclients++;
	c->established = 1;
}

void kw_hub_detach(struct kw_hub *h, struct kw_client *c)
{
	if (!c->established)
		return;
	struct kw_addr_count **p = addr_slot(h, c->addr);
	if (*p && --(*p)->count == 0) {
		struct kw_addr_count *dead = *p;
		*p = dead->next;
		free(dead);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		h->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	h->nclients--;
	c->established = 0;
}

static int sub_is_unfiltered(const struct kw_sub *s)
{
	return !s->ntickers && !s->ncategories && !s->min_notional_micros;
}

static int sub_matches(const struct kw_sub *s, const struct kw_ws_item *it)
{
	if (s->ntickers) {
		int hit = 0;
		for (int i = 0; i < s->ntickers && !hit; i++)
			hit = !strcmp(s->tickers[i], it->ticker);
		if (!hit)
			return 0;
	}
	if (s->ncategories) {
		int hit = 0;
		for (int i = 0; i < s->ncategories && !hit; i++)
			hit = !strcasecmp(s->categories[i], it->category);
		if (!hit)
			return 0;
	}
	/* Size filters read the premium an item is about: a trade's, or an alert's
	 * data.notional_usd as detection wrote it (whale trades, surges, high volume). Markets and
	 * alerts about no amount (odds flips, order-book shifts: -1) are not size-filtered. */
	return it->notional_micros <= 0 || it->notional_micros >= s->min_notional_micros;
}

/* A json array of the items matching s (all when s is NULL), at most max, with references. */
static json_object *items_array(const struct kw_ws_items *it, const struct kw_sub *s, int max)
{
	json_object *a = json_object_new_array();
	for (int i = 0; i < it->n && (int)json_object_array_length(a) < max; i++)
		if (!s || sub_matches(s, &it->v[i]))
			json_object_array_add(a, json_object_get(it->v[i].obj));
	return a;
}

static json_object *list_data(const char *key, json_object *arr)
{
	json_object *d = json_object_new_object();
	int n = (int)json_object_array_length(arr);
	json_object_object_add(d, key, arr);
	json_object_object_add(d, "count", json_object_new_int(n));
	return d;
}

/* One shared `type` message per item for channel; plus a batch for batch_channel. */
static void fan_out(struct kw_hub *h, const struct kw_ws_items *it, const char *type,
		    unsigned channel, const char *batch_type, unsigned batch_channel)
{
	struct kw_msg **one = kw_xcalloc((size_t)it->n, sizeof(*one));
	struct kw_msg *batch_all = NULL;
	for (struct kw_client *c = h->clients; c; c = c->next) {
		if (c->close_code)
			continue;
		if (c->sub.channels & channel) {
			for (int i = 0; i < it->n; i++) {
				if (!sub_matches(&c->sub, &it->v[i]))
					continue;
				if (!one[i])
					one[i] = kw_msg_envelope(type,
								 json_object_get(it->v[i].obj));
				kw_client_send(h, c, one[i]);
			}
		}
		if (batch_type && (c->sub.channels & batch_channel)) {
			if (sub_is_unfiltered(&c->sub)) {
				if (!batch_all)
					batch_all = kw_msg_envelope(
						batch_type,
						list_data("alerts", items_array(it, NULL, it->n)));
				kw_client_send(h, c, batch_all);
				continue;
			}
			json_object *a = items_array(it, &c->sub, it->n);
			if (!json_object_array_length(a)) {
				json_object_put(a);
				continue;
			}
			struct kw_msg *m = kw_msg_envelope(batch_type, list_data("alerts", a));
			kw_client_send(h, c, m);
			kw_msg_unref(m);
		}
	}
	for (int i = 0; i < it->n; i++)
		kw_msg_unref(one[i]);
	free(one);
	kw_msg_unref(batch_all);
}

static void fan_out_markets(struct kw_hub *h, const struct kw_ws_items *it, int64_t run_id)
{
	struct kw_msg *all = NULL;
	for (struct kw_client *c = h->clients; c; c = c->next) {
		if (c->close_code || !(c->sub.channels & KW_CH_MARKETS))
			continue;
		int unfiltered = !c->sub.ntickers && !c->sub.ncategories;
		if (unfiltered && all) {
			kw_client_send(h, c, all);
			continue;
		}
		json_object *a = items_array(it, unfiltered ? NULL : &c->sub, KW_WS_UPDATE_MAX);
		if (!json_object_array_length(a)) {
			json_object_put(a);
			continue;
		}
		json_object *d = list_data("markets", a);
		json_object_object_add(d, "run_id", json_object_new_int64(run_id));
		struct kw_msg *m = kw_msg_envelope("market_update", d);
		kw_client_send(h, c, m);
		if (unfiltered)
			all = m;
		else
			kw_msg_unref(m);
	}
	kw_msg_unref(all);
}

/* Read past the cursors and fan out. 0 when done, 1 when a backlog remains, -1 on error. */
static int follow(struct kw_hub *h)
{
	struct kw_ws_items it;
	int64_t next, run_id, started_at;
	for (int round = 0;; round++) {
		if (round == FOLLOW_ROUNDS)
			return 1;
		if (kw_store_ws_alerts_after(h->store, h->alert_id, KW_WS_FOLLOW_BATCH, &it,
					     &next) < 0)
			return -1;
		kw_ws_items_build(&it);
		if (it.n)
			fan_out(h, &it, "alert", KW_CH_ALERTS, "whale_alerts", KW_CH_WHALE_ALERTS);
		int n = it.n;
		kw_ws_items_free(&it);
		h->alert_id = next;
		if (n < KW_WS_FOLLOW_BATCH)
			break;
	}
	for (int round = 0;; round++) {
		if (round == FOLLOW_ROUNDS)
			return 1;
		if (kw_store_ws_trades_after(h->store, h->trade_id, h->whale_min_micros,
					     KW_WS_FOLLOW_BATCH, &it, &next) < 0)
			return -1;
		kw_ws_items_build(&it);
		if (it.n)
			fan_out(h, &it, "trade", KW_CH_TRADES, NULL, 0);
		int n = it.n;
		kw_ws_items_free(&it);
		h->trade_id = next;
		if (n < KW_WS_FOLLOW_BATCH)
			break;
	}
	int found = kw_store_ws_run_after(h->store, h->run_id, &run_id, &started_at);
	if (found < 0)
		return -1;
	if (found) {
		if (kw_store_ws_markets(h->store, started_at, NULL, 1000, &it) < 0)
			return -1;
		kw_ws_items_build(&it);
		if (it.n)
			fan_out_markets(h, &it, run_id);
		kw_ws_items_free(&it);
		h->run_id = run_id;
	}
	return 0;
}

/* 1 if some open client's queue is more than half full. */
static int queues_busy(const struct kw_hub *h)
{
	for (const struct kw_client *c = h->clients; c; c = c->next)
		if (!c->close_code && c->qlen > KW_WS_QUEUE_MAX / 2)
			return 1;
	return 0;
}

static void poll_cb(lws_sorted_usec_list_t *sul)
{
	struct kw_hub *h = lws_container_of(sul, struct kw_hub, sul_poll);
	int64_t delay_ms = KW_WS_POLL_MS, v = 0;
	if (h->stopping)
		return;
	/* Listening, a tick without a notification asks the database nothing; it is asked
	 * anyway every KW_WS_FALLBACK_MS, in case a notification was lost. A backlog being sent
	 * batch by batch reads on regardless. */
	if (h->listening && h->following && !h->backlog_batch_ms) {
		int64_t now_ms = kw_mono_us() / 1000;
		if (kw_store_data_notified(h->store) == 0 &&
		    now_ms - h->polled_ms < KW_WS_FALLBACK_MS)
			goto out;
		h->polled_ms = now_ms;
	}
	if (kw_store_data_version(h->store, &v) < 0) {
		delay_ms = KW_WS_STORE_RETRY_MS;
		goto out;
	}
	if (!h->following) {
		/* Start from what is there now: clients get only what is new from here on. */
		if (kw_store_ws_cursor(h->store, &h->alert_id, &h->trade_id, &h->run_id) < 0) {
			delay_ms = KW_WS_STORE_RETRY_MS;
			goto out;
		}
		h->following = 1;
		h->data_version = v;
		kw_info("following the store from alert %lld, trade %lld, run %lld",
			(long long)h->alert_id, (long long)h->trade_id, (long long)h->run_id);
		goto out;
	}
	if (v == h->data_version)
		goto out;
	/* A backlog goes out batch by batch, as fast as readers drain their queues; a reader
	 * that stays behind for KW_WS_BACKLOG_WAIT_MS no longer holds the others back: it
	 * overflows and is closed. */
	int64_t now_ms = kw_mono_us() / 1000;
	if (h->backlog_batch_ms && now_ms - h->backlog_batch_ms < KW_WS_BACKLOG_WAIT_MS &&
	    queues_busy(h)) {
		delay_ms = KW_WS_BACKLOG_MS;
		goto out;
	}
	kw_msg_unref(h->default_initial);
	h->default_initial = NULL;
	kw_ws_items_free(&h->snapshot);
	h->snapshot_ok = 0;
	switch (follow(h)) {
	case 0:
		h->data_version = v;
		h->backlog_batch_ms = 0;
		break;
	case 1:
		delay_ms = KW_WS_BACKLOG_MS;
		h->backlog_batch_ms = now_ms;
		break;
	default: delay_ms = KW_WS_STORE_RETRY_MS; break;
	}
out:
	lws_sul_schedule(h->ctx, 0, &h->sul_poll, poll_cb, delay_ms * LWS_US_PER_MS);
}

static void heartbeat_cb(lws_sorted_usec_list_t *sul)
{
	struct kw_hub *h = lws_container_of(sul, struct kw_hub, sul_heartbeat);
	if (h->stopping)
		return;
	/* The original's shape: {type, timestamp, connections}. */
	json_object *o = json_object_new_object();
	size_t len = 0;
	json_object_object_add(o, "type", json_object_new_string("heartbeat"));
	json_object_object_add(o, "timestamp", now_json());
	json_object_object_add(o, "connections", json_object_new_int64(h->nclients));
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (s) {
		struct kw_msg *m = kw_msg_new(s, len);
		for (struct kw_client *c = h->clients; c; c = c->next)
			kw_client_send(h, c, m);
		kw_msg_unref(m);
	}
	json_object_put(o);
	lws_sul_schedule(h->ctx, 0, &h->sul_heartbeat, heartbeat_cb,
			 h->heartbeat_ms * LWS_US_PER_MS);
}

void kw_hub_write_stats(struct kw_hub *h)
{
	struct kw_ws_stats st = { h->nclients, h->sent, h->received, (int64_t)getpid() };
	if (kw_store_ws_stats_write(h->store, &st, kw_now_s()) < 0)
		kw_debug("ws_stats report not written; next one in %d ms", KW_WS_STATS_MS);
	/* Several nodes: ws_stats holds the last reporter only; /api/status adds these up. */
	if (h->cluster &&
	    kw_store_ws_node_write(h->store, h->cfg->node_name, h->nclients, kw_now_s()) < 0)
		kw_debug("ws_nodes report not written; next one in %d ms", KW_WS_STATS_MS);
}

static void stats_cb(lws_sorted_usec_list_t *sul)
{
	struct kw_hub *h = lws_container_of(sul, struct kw_hub, sul_stats);
	if (h->stopping)
		return;
	kw_hub_write_stats(h);
	lws_sul_schedule(h->ctx, 0, &h->sul_stats, stats_cb, KW_WS_STATS_MS * LWS_US_PER_MS);
}

/* 1 if the API keys' stamp in the database moved since the last look (a kw-admin on any node
 * revoked, made or deleted a key); 0 if not, or when it cannot be read (the periodic sweep
 * covers that). */
static int keys_stamp_moved(struct kw_hub *h)
{
	struct kw_keys_stamp now;
	if (!h->cluster || kw_store_keys_stamp(h->store, &now) < 0)
		return 0;
	int moved = memcmp(&now, &h->keys_stamp, sizeof(now)) != 0;
	h->keys_stamp = now;
	return moved;
}

/*
 * Revoked keys: a socket lives on after its handshake, so a revocation must reach it. Every
 * KW_WS_KEYS_MS the key generation in the limiter table (bumped by kw-admin after each key
 * change on this node) is compared with the last one seen, and on PostgreSQL, where kw-admin
 * may run on another node, so is a stamp of the api_keys table (one small query); on a change,
 * and every KW_WS_KEYS_EVERY_MS regardless, each client that connected with a database key
 * (directly or through a ticket minted for it) is checked, and a revoked key's sockets are
 * closed with 1008.
 */
static void keys_cb(lws_sorted_usec_list_t *sul)
{
	struct kw_hub *h = lws_container_of(sul, struct kw_hub, sul_keys);
	int64_t now = kw_mono_us() / 1000;
	uint64_t gen = h->rl ? kw_rl_keys_generation(h->rl) : 0;
	int stamp_moved = keys_stamp_moved(h);
	if (gen != h->keys_generation || stamp_moved ||
	    now - h->keys_swept_ms >= KW_WS_KEYS_EVERY_MS) {
		h->keys_generation = gen;
		h->keys_swept_ms = now;
		for (struct kw_client *c = h->clients; c; c = c->next) {
			if (c->key_id <= 0 || c->close_code || kw_ws_key_revoked(h, c->key_id) != 1)
				continue;
			kw_ws_security_event(h, "auth_failed", "key_revoked_while_connected",
					     c->addr, 1008);
			kw_client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "key revoked");
		}
	}
	lws_sul_schedule(h->ctx, 0, &h->sul_keys, keys_cb, KW_WS_KEYS_MS * LWS_US_PER_MS);
}

void kw_hub_start_timers(struct kw_hub *h)
{
	h->addr_table = kw_xcalloc(ADDR_BUCKETS, sizeof(*h->addr_table));
	lws_sul_schedule(h->ctx, 0, &h->sul_poll, poll_cb, 1);
	lws_sul_schedule(h->ctx, 0, &h->sul_heartbeat, heartbeat_cb,
			 h->heartbeat_ms * LWS_US_PER_MS);
	lws_sul_schedule(h->ctx, 0, &h->sul_stats, stats_cb, 1);
	h->keys_generation = h->rl ? kw_rl_keys_generation(h->rl) : 0;
	h->cluster = kw_url_is_postgres(h->cfg->db_target);
	h->cluster_limit = h->cluster && h->cfg->rate_limit_scope == KW_RL_SCOPE_CLUSTER;
	h->listening = kw_store_data_listen(h->store) == 1;
	(void)keys_stamp_moved(h);
	h->keys_swept_ms = kw_mono_us() / 1000;
	lws_sul_schedule(h->ctx, 0, &h->sul_keys, keys_cb, KW_WS_KEYS_MS * LWS_US_PER_MS);
}

void kw_hub_shutdown(struct kw_hub *h)
{
	h->stopping = 1;
	lws_sul_cancel(&h->sul_poll);
	lws_sul_cancel(&h->sul_heartbeat);
	lws_sul_cancel(&h->sul_stats);
	lws_sul_cancel(&h->sul_keys);
	for (struct kw_client *c = h->clients; c; c = c->next)
		kw_client_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
}

static json_object *string_array(char *const *v, int n)
{
	json_object *a = json_object_new_array();
	for (int i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static json_object *sub_json(const struct kw_sub *s)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = { { KW_CH_ALERTS, "alerts" },
		      { KW_CH_WHALE_ALERTS, "whale_alerts" },
		      { KW_CH_TRADES, "trades" },
		      { KW_CH_MARKETS, "markets" } };
	json_object *o = json_object_new_object(), *ch = json_object_new_array();
	for (size_t i = 0; i < KW_ARRAY_LEN(names); i++)
		if (s->channels & names[i].bit)
			json_object_array_add(ch, json_object_new_string(names[i].name));
	json_object_object_add(o, "channels", ch);
	json_object_object_add(o, "tickers", string_array(s->tickers, s->ntickers));
	json_object_object_add(o, "categories", string_array(s->categories, s->ncategories));
	json_object_object_add(o, "min_notional",
			       json_object_new_int64(s->min_notional_micros / 1000000));
	return o;
}

static int sub_is_default(const struct kw_sub *s)
{
	return s->channels == KW_CH_DEFAULT && sub_is_unfiltered(s);
}

struct kw_msg *kw_hub_initial_data(struct kw_hub *h, const struct kw_client *c)
{
	const struct kw_sub *s = &c->sub;
	int dflt = sub_is_default(s);
	if (dflt && h->default_initial) {
		h->default_initial->refs++;
		return h->default_initial;
	}
	json_object *markets = json_object_new_array();
	if (s->channels & KW_CH_MARKETS) {
		struct kw_ws_items it;
		if (s->ntickers) {
			json_object *list = string_array(s->tickers, s->ntickers);
			const char *text =
				json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN);
			if (text &&
			    kw_store_ws_markets(h->store, 0, text, KW_WS_MAX_TICKERS, &it) == 0) {
				kw_ws_items_build(&it);
				json_object_put(markets);
				markets = items_array(&it, s, KW_WS_SNAPSHOT_MAX);
				kw_ws_items_free(&it);
			}
			json_object_put(list);
		} else {
			/* One query per commit, however many clients subscribe in between. */
			if (!h->snapshot_ok)
				h->snapshot_ok = kw_store_ws_markets(h->store, 0, NULL, 1000,
								     &h->snapshot) == 0;
			if (h->snapshot_ok)
				kw_ws_items_build(&h->snapshot);
			json_object_put(markets);
			markets = items_array(&h->snapshot, s, KW_WS_SNAPSHOT_MAX);
		}
	}
	json_object *d = list_data("markets", markets);
	json_object_object_add(d, "last_alert_id", json_object_new_int64(h->alert_id));
	json_object_object_add(d, "subscription", sub_json(s));
	struct kw_msg *m = kw_msg_envelope("initial_data", d);
	if (dflt) {
		h->default_initial = m;
		m->refs++;
	}
	return m;
}

void kw_hub_resume(struct kw_hub *h, struct kw_client *c, int64_t since_id)
{
	struct kw_ws_items it;
	int64_t next = 0, last = since_id;
	int more = 0;
	json_object *alerts = json_object_new_array();
	/* Only what the hub has already followed: newer rows arrive live, never twice. */
	if (since_id < h->alert_id &&
	    kw_store_ws_alerts_after(h->store, since_id, 1000, &it, &next) == 0) {
		int i;
		kw_ws_items_build(&it);
		for (i = 0; i < it.n; i++) {
			if (it.v[i].id > h->alert_id)
				break;
			if ((int)json_object_array_length(alerts) == KW_WS_RESUME_MAX) {
				more = 1;
				break;
			}
			last = it.v[i].id;
			if (sub_matches(&c->sub, &it.v[i]))
				json_object_array_add(alerts, json_object_get(it.v[i].obj));
		}
		if (i == it.n && it.n == 1000 && last < h->alert_id)
			more = 1;
		if (!more)
			last = h->alert_id;
		kw_ws_items_free(&it);
	} else if (since_id < h->alert_id) {
		json_object_put(alerts);
		json_object *e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string("unavailable"));
		json_object_object_add(e, "message",
				       json_object_new_string("the store cannot answer; retry"));
		struct kw_msg *m = kw_msg_envelope("error", e);
		kw_client_send(h, c, m);
		kw_msg_unref(m);
		return;
	}
	json_object *d = list_data("alerts", alerts);
	json_object_object_add(d, "since_id", json_object_new_int64(since_id));
	json_object_object_add(d, "last_id",
			       json_object_new_int64(last > since_id ? last : since_id));
	json_object_object_add(d, "more", json_object_new_boolean(more));
	struct kw_msg *m = kw_msg_envelope("resumed", d);
	kw_client_send(h, c, m);
	kw_msg_unref(m);
}

void kw_hub_free(struct kw_hub *h)
{
	kw_msg_unref(h->default_initial);
	h->default_initial = NULL;
	kw_ws_items_free(&h->snapshot);
	if (h->addr_table) {
		for (size_t i = 0; i < ADDR_BUCKETS; i++) {
			while (h->addr_table[i]) {
				struct kw_addr_count *n = h->addr_table[i]->next;
				free(h->addr_table[i]);
				h->addr_table[i] = n;
			}
		}
		free(h->addr_table);
		h->addr_table = NULL;
	}
	kw_origins_free(h->origins);
	h->origins = NULL;
	kw_ticket_seen_free(h->seen);
	kw_rl_close(h->rl);
	h->rl = NULL;
	kw_store_close(h->store);
}
