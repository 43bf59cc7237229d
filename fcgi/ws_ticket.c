/*
 * ws_ticket.c — POST /api/ws-ticket: a single-use ticket for the WebSocket handshake.
 *
 * Browsers cannot send X-API-Key or Authorization on a WebSocket upgrade, so an authenticated
 * client (the dispatcher has already checked its key or token) trades its credential here for
 * a ticket that kw-ws accepts once, within KW_TICKET_MAX_TTL_S seconds (lib/ticket.h):
 *
 *     {"ticket": "...", "expires_at": RFC 3339, "ws_url": "/ws?ticket=..."}
 *
 * The ticket is a credential: the answer is marked no-store. A request body is not needed and
 * is ignored. Without a usable JWT_SECRET there are no tickets: 503, never an unsigned ticket.
 */
#include <stdio.h>

#include "app.h"
#include "log.h"
#include "ticket.h"

void kw_handle_ws_ticket(struct kw_req *r)
{
	char ticket[KW_TICKET_MAX_LEN], exp_text[32], url[KW_TICKET_MAX_LEN + 16];
	char scope[KW_TICKET_SCOPE_MAX + 1];
	int64_t expires_s = 0;
	/* A key's ticket names the key: kw-ws closes its socket when the key is revoked. */
	if (r->sec.key_id > 0)
		snprintf(scope, sizeof(scope), "%s:key:%lld", KW_TICKET_SCOPE_WS,
			 (long long)r->sec.key_id);
	else
		snprintf(scope, sizeof(scope), "%s", KW_TICKET_SCOPE_WS);
	if (kw_ticket_mint(r->app->cfg.jwt_secret, scope, kw_now_us() / 1000, KW_TICKET_MAX_TTL_S,
			   ticket, sizeof(ticket), &expires_s) < 0) {
		kw_error("ws-ticket: cannot mint a ticket (JWT_SECRET shorter than %d bytes, or no "
			 "randomness)",
			 KW_TICKET_MIN_SECRET);
		kw_reply_error(r, 503, "tickets_unavailable",
			       "WebSocket tickets are not available on this server");
		return;
	}
	kw_fmt_rfc3339(expires_s, exp_text, sizeof(exp_text));
	snprintf(url, sizeof(url), "/ws?ticket=%s", ticket);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ticket", json_object_new_string(ticket));
	json_object_object_add(o, "expires_at", json_object_new_string(exp_text));
	json_object_object_add(o, "ws_url", json_object_new_string(url));
	kw_reply_header(r, "Cache-Control", "no-store");
	kw_reply_json(r, 200, o);
}
