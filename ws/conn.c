/*
 * conn.c — one WebSocket connection: the handshake checks, inbound messages and their limits,
 * and writing the send queue. This is the libwebsockets protocol callback (kw_ws_protocols).
 *
 * Handshake (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, before any 101 is sent), in this order:
 *   path must be /ws (404); shutting down (503); an address blocked in the limiter table it
 *   shares with kw-api (403); Origin, when sent, must equal one of
 *   ALLOWED_ORIGINS exactly, after the normalisation kw-api's CORS uses (origins.h) (403:
 *   cross-site WebSocket hijacking); MAX_CONNECTIONS (503) and WS_MAX_PER_IP (429), checked
 *   before credentials so that a refused client does not burn its single-use ticket; then
 *   credentials: X-API-Key (the API_KEY bootstrap key or an unrevoked key from api_keys,
 *   checked as kw-api checks them: by SHA-256, in constant time) or the `ticket` parameter (ticket.h: HMAC, <= 60 s, scope "ws", single use).
 *   A request without Origin is a non-browser client; CSWSH needs a browser, which always sends
 *   one. Every refusal is a JSON error body, no upgrade, and a security event line; those of
 *   kw-api's kinds are security_events rows too. A refused credential counts toward
 *   SUSPICIOUS_AUTH_FAILURES with kw-api's (lib/ratelimit.h kw_rl_count_failure), and the one
 *   that reaches it blocks the address for both programs. On PostgreSQL the counts and blocks
 *   are the cluster limiter's rows (lib/store_gcra.h), shared with every node's kw-api and
 *   kw-ws.
 * Revocation: a client remembers the API key it came with (directly or through a ticket minted
 *   for it, scope "ws:key:ID"); hub.c closes it with 1008 when that key is revoked.
 * Client address: as kw-api finds it (lib/proxy.h): X-Forwarded-For is walked from the right
 *   only when the peer is on TRUSTED_PROXIES or is the web server on the unix socket WS_SOCKET;
 *   otherwise the peer address is the client. Behind a web server on loopback TCP, list it
 *   (TRUSTED_PROXIES=127.0.0.1); a header a trusted hop could not have written is a 400.
 * Inbound (RFC 6455 §5.4, §7.4.1): a message is counted as its fragments arrive and closed
 *   with 1009 as soon as it would pass WS_MAX_MESSAGE_BYTES, before it is buffered; a text
 *   message that is not valid UTF-8 is closed with 1007; more than WS_MAX_MSGS_PER_SEC messages
 *   in a second with 1008. Client messages (subscribe, resume, ping) are parsed and checked by
 *   lib/ws_proto.c; anything else is answered with an `error` message, and the
 *   KW_WS_MAX_ERRORS-th closes with 1008.
 * Idle: libwebsockets pings a quiet client and hangs up one silent past WEB_SOCKET_TIMEOUT
 *   (retry_and_idle_policy, set in main.c).
 *
 * What it leaves out: permessage-deflate (compression side channels, memory per client),
 * subprotocol negotiation, bearer tokens (browsers use tickets, programs X-API-Key).
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "http.h"
#include "log.h"
#include "store_gcra.h"
#include "store_security.h"
#include "ws.h"

#define KEY_MAX (KW_KEY_MAX_LEN + 1)

/* The kw-api event types (fcgi/security.h) that are also rows in security_events. */
static int stored_type(const char *event)
{
	static const char *const types[] = { "auth_failed", "cors_origin_denied",
					     "rate_limit_exceeded", "suspicious_activity" };
	for (size_t i = 0; i < KW_ARRAY_LEN(types); i++)
		if (!strcmp(event, types[i]))
			return 1;
	return 0;
}

void kw_ws_security_event(struct kw_hub *h, const char *event, const char *reason, const char *addr,
			  int status)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "component", json_object_new_string("kw-ws"));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(o, "client", json_object_new_string(addr));
	json_object_object_add(o, "status", json_object_new_int(status));
	kw_log_json(strcmp(event, "suspicious_activity") ? KW_LOG_WARNING : KW_LOG_ERROR,
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	char detail[96];
	snprintf(detail, sizeof(detail), "kw-ws: %s", reason);
	if (stored_type(event) && h->store &&
	    kw_store_sec_event_add(h->store, kw_now_s(), event, addr, 0, detail, "") < 0)
		kw_warn("security event %s logged but not stored", event);
}

/* The same event at most once a minute per address and kind (throttle key prefix). */
static void throttled_event(struct kw_hub *h, const char *kind, const char *event,
			    const char *reason, const char *addr, int status)
{
	char key[KW_WS_ADDR_MAX + 16];
	int64_t now = kw_now_us();
	snprintf(key, sizeof(key), "%s%s", kind, addr);
	if (!h->rl || kw_rl_raise(h->rl, key, now + 60LL * 1000000) < now)
		kw_ws_security_event(h, event, reason, addr, status);
}

/* A failure with a credential presented: counted with kw-api's, and maybe a block. */
static void count_failure(struct kw_hub *h, const char *addr)
{
	int64_t now = kw_now_us(), block_us = h->cfg->block_minutes * 60 * 1000000;
	int started = 0;
	if (h->cluster_limit) /* PostgreSQL: counted across the cluster */
		started = kw_store_gcra_count_failure(h->store, addr, 0,
						      h->cfg->suspicious_auth_failures, block_us);
	else if (h->rl)
		started = kw_rl_count_failure(h->rl, addr, now, h->cfg->suspicious_auth_failures,
					      block_us);
	if (started < 0)
		kw_warn("a failed authentication from %s could not be counted (database "
			"unavailable)",
			addr);
	if (started <= 0)
		return;
	char reason[96];
	snprintf(reason, sizeof(reason), "%lld failed authentications within 5 minutes",
		 (long long)h->cfg->suspicious_auth_failures);
	kw_ws_security_event(h, "suspicious_activity", reason, addr, 401);
	if (kw_store_block_add(h->store, addr, now / 1000000, (now + block_us) / 1000000,
			       "auth_failures") < 0)
		kw_warn("blocked address not recorded in the database (still enforced)");
}

/*
 * Answer the handshake with status and a JSON error; the caller returns 1 (lws: "handled").
 * The head is written whole by us: lws would label it HTTP/1.0 at this stage, which strict
 * clients refuse to parse.
 */
static int refuse(struct lws *wsi, unsigned int status, const char *code, const char *message)
{
	char body[256];
	unsigned char buf[LWS_PRE + 1024];
	char *head = (char *)buf + LWS_PRE;
	size_t room = sizeof(buf) - LWS_PRE;
	int n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
			 code, message);
	if (n < 0 || (size_t)n >= sizeof(body))
		return -1;
	int m = snprintf(head, room,
			 "HTTP/1.1 %u %s\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %d\r\n"
			 "Cache-Control: no-store\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "Connection: close\r\n"
			 "\r\n%s",
			 status, status == 426 ? "Upgrade Required" : kw_http_reason((int)status),
			 n, body);
	if (m < 0 || (size_t)m >= room)
		return -1;
	if (lws_write(wsi, (unsigned char *)head, (size_t)m, LWS_WRITE_HTTP_HEADERS) != m)
		return -1;
	return 1;
}

/*
 * The client address (proxy.h), as kw-api finds it: X-Forwarded-For is believed only from a
 * peer on TRUSTED_PROXIES, or from the unix socket WS_SOCKET (mode 0660: only the web server's
 * group can connect), and read whole. -1 when a trusted hop's entry is not an address (out is
 * then that hop).
 */
static int client_addr(struct kw_hub *h, struct lws *wsi, char out[KW_WS_ADDR_MAX])
{
	char peer[KW_WS_ADDR_MAX] = "";
	char *xff = NULL;
	if (!lws_get_peer_simple(wsi, peer, sizeof(peer)))
		peer[0] = '\0';
	int trusted = !peer[0] ? h->cfg->ws_socket && *h->cfg->ws_socket
			       : kw_proxies_contains(&h->proxies, peer, strlen(peer));
	int n = trusted ? lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) : 0;
	if (n > 0) {
		xff = kw_xmalloc((size_t)n + 1);
		if (lws_hdr_copy(wsi, xff, n + 1, WSI_TOKEN_X_FORWARDED_FOR) != n)
			xff[0] = '\0'; /* unreadable: malformed, never ignored */
	}
	enum kw_fwd f = kw_client_address(&h->proxies, peer, trusted, xff, out);
	free(xff);
	return f == KW_FWD_MALFORMED ? -1 : 0;
}

/*
 * The X-API-Key check, as kw-api does it (fcgi/gate.c): the API_KEY bootstrap key, compared by
 * hash in constant time, or an unrevoked key from the api_keys table (any scope may listen).
 * Returns NULL when the key is good, else the reason for the security event.
 */
static const char *api_key_refusal(struct kw_hub *h, const char *key, int64_t *key_id)
{
	char hash[65];
	struct kw_key_row k;
	*key_id = 0;
	if (!kw_key_is_wellformed(key))
		return "key_malformed";
	kw_key_hash(key, strlen(key), hash);
	if (h->api_key_sha256[0] && kw_ct_equal(hash, h->api_key_sha256, 64))
		return NULL;
	int found = kw_store_key_find(h->store, hash, &k);
	if (found < 0)
		return "key_store_unavailable";
	if (!found || !kw_ct_equal(hash, k.key_sha256, 64))
		return "key_unknown";
	*key_id = k.id;
	if (k.revoked_at)
		return "key_revoked";
	kw_store_key_touch(h->store, &k, kw_now_s());
	return NULL;
}

/* The key a ticket was minted for ("ws:key:12" -> 12), 0 for none. */
static int64_t ticket_key_id(const struct kw_ticket *t)
{
	static const char prefix[] = KW_TICKET_SCOPE_WS ":key:";
	int64_t id = 0;
	if (strncmp(t->scope, prefix, sizeof(prefix) - 1) ||
	    kw_parse_i64(t->scope + sizeof(prefix) - 1, 1, INT64_MAX, &id) < 0)
		return 0;
	return id;
}

int kw_ws_key_revoked(struct kw_hub *h, int64_t key_id)
{
	struct kw_key_row k;
	int found = kw_store_key_get(h->store, key_id, &k);
	if (found < 0)
		return -1;
	return !found || k.revoked_at;
}

/* Who may knock at all, before any credential: address, path, blocks, origin, limits. 0 when
 * the handshake may go on; otherwise what refuse() returned. */
static int check_admission(struct kw_hub *h, struct kw_client *c, struct lws *wsi)
{
	char uri[64] = "", origin[256];
	if (client_addr(h, wsi, c->addr) < 0) {
		kw_ws_security_event(h, "bad_request", "x_forwarded_for_malformed", c->addr, 400);
		return refuse(wsi, 400, "bad_forwarded_for",
			      "the X-Forwarded-For header is not a list of IP addresses");
	}
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws"))
		return refuse(wsi, 404, "not_found", "WebSocket endpoint is /ws");
	if (h->stopping)
		return refuse(wsi, 503, "shutting_down", "the server is restarting; retry");
	/* Blocked by kw-api or by us (shared limiter table; on PostgreSQL the cluster's, where
	 * a database that cannot say refuses the handshake, as kw-api refuses the request): before
	 * anything else, as kw-api. */
	int blocked = 0;
	if (h->cluster_limit)
		blocked = kw_store_gcra_blocked(h->store, c->addr, 0);
	else if (h->rl)
		blocked = kw_rl_blocked(h->rl, c->addr, kw_now_us());
	if (blocked < 0)
		return refuse(wsi, 503, "database_unavailable", "the database is unavailable");
	if (blocked) {
		kw_ws_security_event(h, "blocked", "address_blocked", c->addr, 403);
		return refuse(wsi, 403, "blocked",
			      "this address is temporarily blocked after repeated failed "
			      "authentications");
	}

	int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	if (n > 0) {
		if (n >= (int)sizeof(origin) ||
		    lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) != n ||
		    !kw_origins_match(h->origins, origin, (size_t)n)) {
			throttled_event(h, "c:", "cors_origin_denied", "origin_not_allowed",
					c->addr, 403);
			return refuse(wsi, 403, "origin_not_allowed", "this origin is not allowed");
		}
	}

	if (h->nclients >= h->cfg->max_connections) {
		kw_ws_security_event(h, "connection_limit", "max_connections", c->addr, 503);
		return refuse(wsi, 503, "too_many_connections", "the server is full; retry later");
	}
	if (kw_hub_addr_count(h, c->addr) >= h->cfg->ws_max_per_ip) {
		throttled_event(h, "e:ws:", "rate_limit_exceeded", "max_per_ip", c->addr, 429);
		return refuse(wsi, 429, "too_many_connections",
			      "too many connections from this address");
	}
	return 0;
}

/* An X-API-Key header of n bytes was sent: it alone decides. */
static int check_api_key(struct kw_hub *h, struct kw_client *c, struct lws *wsi, int n)
{
	char key[KEY_MAX];
	const char *why = "key_malformed";
	if (n > 0 && n < KEY_MAX &&
	    lws_hdr_custom_copy(wsi, key, sizeof(key), "x-api-key:", 10) == n)
		why = api_key_refusal(h, key, &c->key_id);
	OPENSSL_cleanse(key, sizeof(key));
	if (!why)
		return 0;
	int unavailable = !strcmp(why, "key_store_unavailable");
	kw_ws_security_event(h, "auth_failed", why, c->addr, unavailable ? 503 : 401);
	if (unavailable)
		return refuse(wsi, 503, "unavailable", "cannot check keys now; retry");
	count_failure(h, c->addr);
	return refuse(wsi, 401, "unauthorized", "invalid API key");
}

/* No key: a one-time ticket (?ticket=) for the ws scope, not seen before, of a live key. */
static int check_ticket(struct kw_hub *h, struct kw_client *c, struct lws *wsi)
{
	char targ[KW_TICKET_MAX_LEN + 16];
	const char *ticket = lws_get_urlarg_by_name(wsi, "ticket=", targ, sizeof(targ));
	if (!ticket) {
		kw_ws_security_event(h, "auth_failed", "missing_credentials", c->addr, 401);
		return refuse(wsi, 401, "unauthorized",
			      "a ticket (POST /api/ws-ticket) or an X-API-Key is required");
	}
	if (strlen(h->cfg->jwt_secret) < KW_TICKET_MIN_SECRET) {
		kw_ws_security_event(h, "auth_failed", "tickets_disabled", c->addr, 401);
		return refuse(wsi, 401, "unauthorized",
			      "tickets are disabled on this server (no JWT_SECRET)");
	}
	struct kw_ticket t;
	int64_t now_ms = kw_now_us() / 1000;
	enum kw_ticket_result tr = kw_ticket_verify(h->cfg->jwt_secret, ticket, KW_TICKET_SCOPE_WS,
						    now_ms, h->started_ms, &t);
	if (tr == KW_TICKET_OK)
		tr = kw_ticket_seen_claim(h->seen, &t, now_ms / 1000);
	if (tr != KW_TICKET_OK) {
		char reason[48];
		snprintf(reason, sizeof(reason), "ticket_%s", kw_ticket_result_name(tr));
		kw_ws_security_event(h, "auth_failed", reason, c->addr,
				     tr == KW_TICKET_WRONG_SCOPE ? 403 : 401);
		if (tr != KW_TICKET_SEEN_FULL)
			count_failure(h, c->addr);
		if (tr == KW_TICKET_WRONG_SCOPE)
			return refuse(wsi, 403, "forbidden", "this ticket is not for WebSockets");
		return refuse(wsi, 401, "unauthorized", "invalid, expired or used ticket");
	}
	c->key_id = ticket_key_id(&t);
	if (c->key_id > 0 && kw_ws_key_revoked(h, c->key_id) == 1) {
		kw_ws_security_event(h, "auth_failed", "ticket_key_revoked", c->addr, 401);
		return refuse(wsi, 401, "unauthorized", "invalid, expired or used ticket");
	}
	return 0;
}

/* 0 when the handshake may proceed; otherwise what refuse() returned. */
static int check_handshake(struct kw_hub *h, struct kw_client *c, struct lws *wsi)
{
	int rc = check_admission(h, c, wsi);
	if (rc != 0)
		return rc;
	int n = lws_hdr_custom_length(wsi, "x-api-key:", 10);
	if (n >= 0)
		return check_api_key(h, c, wsi, n);
	return check_ticket(h, c, wsi);
}

/* The API key a client connected with, again at ESTABLISHED (the handshake's result is not
 * kept: lws gives the per-session data only now): its id, 0 for API_KEY or none. */
static int64_t connected_key_id(struct kw_hub *h, struct lws *wsi)
{
	char key[KEY_MAX], targ[KW_TICKET_MAX_LEN + 16];
	int64_t id = 0;
	int n = lws_hdr_custom_length(wsi, "x-api-key:", 10);
	if (n > 0 && n < KEY_MAX &&
	    lws_hdr_custom_copy(wsi, key, sizeof(key), "x-api-key:", 10) == n) {
		char hash[65];
		struct kw_key_row k;
		kw_key_hash(key, strlen(key), hash);
		if (kw_store_key_find(h->store, hash, &k) == 1)
			id = k.id;
		OPENSSL_cleanse(key, sizeof(key));
		return id;
	}
	const char *ticket = lws_get_urlarg_by_name(wsi, "ticket=", targ, sizeof(targ));
	struct kw_ticket t;
	if (ticket && kw_ticket_verify(h->cfg->jwt_secret, ticket, KW_TICKET_SCOPE_WS,
				       kw_now_us() / 1000, h->started_ms, &t) == KW_TICKET_OK)
		id = ticket_key_id(&t);
	return id;
}

static void send_error(struct kw_hub *h, struct kw_client *c, const char *code, const char *message)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	struct kw_msg *m = kw_msg_envelope("error", e);
	kw_client_send(h, c, m);
	kw_msg_unref(m);
	if (++c->errors >= KW_WS_MAX_ERRORS)
		kw_client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many invalid messages");
}

static void handle_message(struct kw_hub *h, struct kw_client *c, const char *text, size_t len)
{
	struct kw_ws_request req;
	const char *code = NULL;
	char err[160];
	struct kw_msg *m;
	if (kw_ws_request_parse(text, len, &req, &code, err, sizeof(err)) < 0) {
		send_error(h, c, code, err);
		return;
	}
	switch (req.type) {
	case KW_WS_REQ_PING:
		m = kw_msg_envelope("pong", NULL);
		kw_client_send(h, c, m);
		kw_msg_unref(m);
		break;
	case KW_WS_REQ_SUBSCRIBE:
		kw_sub_free(&c->sub);
		c->sub = req.sub; /* the strings change owner */
		m = kw_hub_initial_data(h, c);
		kw_client_send(h, c, m);
		kw_msg_unref(m);
		break;
	case KW_WS_REQ_RESUME: kw_hub_resume(h, c, req.since_id); break;
	}
}

static int close_now(struct lws *wsi, struct kw_client *c, enum lws_close_status code,
		     const char *reason)
{
	kw_info("ws: closing client %s with %d (%s)", c->addr, (int)code, reason);
	lws_close_reason(wsi, code, (unsigned char *)(uintptr_t)reason, strlen(reason));
	return -1;
}

static int on_receive(struct kw_hub *h, struct kw_client *c, struct lws *wsi, const void *in,
		      size_t len)
{
	const struct kw_config *cfg = h->cfg;
	if (c->close_code)
		return 0; /* closing: what it sends now is ignored */
	if (lws_is_first_fragment(wsi)) {
		kw_buf_reset(&c->rx);
		c->rx_binary = lws_frame_is_binary(wsi);
	}
	/* Counted as it arrives: the rest of this frame is announced, so refuse it now. */
	size_t remaining = lws_remaining_packet_payload(wsi);
	if (c->rx.len + len + remaining > (size_t)cfg->ws_max_message_bytes ||
	    kw_buf_append(&c->rx, in, len) < 0)
		return close_now(wsi, c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
	if (!lws_is_final_fragment(wsi) || remaining)
		return 0;

	h->received++;
	int64_t now = kw_mono_us() / 1000;
	if (now - c->rate_window_ms >= 1000) {
		c->rate_window_ms = now;
		c->rate_count = 0;
	}
	if (++c->rate_count > cfg->ws_max_msgs_per_sec)
		return close_now(wsi, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit");
	if (c->rx_binary) {
		send_error(h, c, "binary_not_supported", "send JSON text frames");
	} else if (!kw_ws_utf8_valid((const unsigned char *)c->rx.data, c->rx.len)) {
		return close_now(wsi, c, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid UTF-8");
	} else {
		handle_message(h, c, c->rx.data ? c->rx.data : "", c->rx.len);
	}
	kw_buf_reset(&c->rx);
	return 0;
}

/*
 * Write queued messages while the socket takes them (a few per callback, so one client cannot
 * monopolise the loop); what the kernel does not take, libwebsockets buffers and reports as
 * choked, and the rest waits for the next writable callback.
 */
static int on_writeable(struct kw_hub *h, struct kw_client *c, struct lws *wsi)
{
	if (c->close_code)
		return close_now(wsi, c, (enum lws_close_status)c->close_code, c->close_reason);
	for (int i = 0; i < KW_WS_WRITES_PER_CALLBACK && c->qlen; i++) {
		if (i && lws_send_pipe_choked(wsi))
			break;
		struct kw_msg *m = c->q[c->qhead];
		c->q[c->qhead] = NULL;
		c->qhead = (c->qhead + 1) % KW_WS_QUEUE_MAX;
		c->qlen--;
		c->qbytes -= m->len;
		int n = lws_write(wsi, m->payload, m->len, LWS_WRITE_TEXT);
		int ok = n >= 0 && (size_t)n >= m->len;
		kw_msg_unref(m);
		if (!ok) {
			kw_debug("ws: write to %s failed; closing", c->addr);
			return -1;
		}
		h->sent++;
	}
	if (c->qlen)
		lws_callback_on_writable(wsi);
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct kw_hub *h = lws_context_user(lws_get_context(wsi));
	struct kw_client *c = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		char addr[KW_WS_ADDR_MAX];
		(void)client_addr(h, wsi, addr);
		kw_info("ws: plain HTTP request from %s refused (426)", addr);
		refuse(wsi, 426, "upgrade_required", "this endpoint speaks WebSocket only");
		return -1; /* the answer said Connection: close */
	}
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
		/* No per-session data yet at this point: check with a scratch client. */
		struct kw_client probe;
		memset(&probe, 0, sizeof(probe));
		if (strcasecmp((const char *)in, "websocket"))
			return refuse(wsi, 400, "bad_upgrade", "only WebSocket upgrades");
		return check_handshake(h, &probe, wsi);
	}
	case LWS_CALLBACK_ESTABLISHED: {
		(void)client_addr(h, wsi, c->addr); /* checked at the handshake */
		c->key_id = connected_key_id(h, wsi);
		c->wsi = wsi;
		c->sub.channels = KW_CH_DEFAULT;
		kw_buf_init(&c->rx, (size_t)h->cfg->ws_max_message_bytes);
		kw_hub_attach(h, c);
		kw_debug("ws: client %s connected (%lld open)", c->addr, (long long)h->nclients);
		struct kw_msg *m = kw_hub_initial_data(h, c);
		kw_client_send(h, c, m);
		kw_msg_unref(m);
		return 0;
	}
	case LWS_CALLBACK_RECEIVE: return on_receive(h, c, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE: return on_writeable(h, c, wsi);
	case LWS_CALLBACK_CLOSED:
		kw_hub_detach(h, c);
		kw_client_release(c);
		kw_debug("ws: client %s gone (%lld open)", c->addr, (long long)h->nclients);
		return 0;
	default: break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols kw_ws_protocols[] = {
	{ "kalshiwhale", callback, sizeof(struct kw_client), 1024, 0, NULL, 16384 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};
