/*
 * ws.h — kw-ws internals shared by its files: the hub (process state), one client, and the
 * shared outbound message.
 *
 * Data model: one struct kw_hub per process, built in main.c and handed to libwebsockets as the
 * context user; every callback reaches it through lws_context_user(). One struct kw_client per
 * connection is libwebsockets' per-session data (zeroed by lws, freed by lws after
 * LWS_CALLBACK_CLOSED; what it points to we free in kw_client_release). An established client
 * is on the hub's list and counted once in the per-address table, from ESTABLISHED to CLOSED.
 *
 * Outbound messages (struct kw_msg) are serialised once and shared: a broadcast to 10,000
 * clients is one allocation with 10,000 references. Each client holds at most
 * KW_WS_QUEUE_MAX messages / KW_WS_QUEUE_BYTES bytes; overflowing closes that client only.
 *
 * Everything runs on the one libwebsockets service thread; nothing here is locked.
 */
#ifndef KW_WS_H
#define KW_WS_H

#include <libwebsockets.h>
#include <stdint.h>

#include "config.h"
#include "origins.h"
#include "proxy.h"
#include "ratelimit.h"
#include "store.h"
#include "store_cluster.h"
#include "store_ws.h"
#include "ticket.h"
#include "ws_proto.h"
#include "util.h"

#define KW_WS_QUEUE_MAX 256	     /* messages waiting per client */
#define KW_WS_QUEUE_BYTES (2 << 20)  /* bytes waiting per client */
#define KW_WS_MAX_ERRORS 5	     /* invalid messages before the connection is closed */
#define KW_WS_SNAPSHOT_MAX 100	     /* markets in initial_data */
#define KW_WS_UPDATE_MAX 200	     /* markets in one market_update */
#define KW_WS_RESUME_MAX 100	     /* alerts in one resume answer */
#define KW_WS_FOLLOW_BATCH 100	     /* rows fanned out per poll tick */
#define KW_WS_BACKLOG_MS 5	     /* next tick when more rows wait: clients drain first */
#define KW_WS_BACKLOG_WAIT_MS 1000   /* longest wait for busy queues before going on anyway */
#define KW_WS_WRITES_PER_CALLBACK 16 /* messages written per writable callback */
#define KW_WS_POLL_MS 100	     /* PRAGMA data_version polling (<= 250 ms): costs no I/O */
#define KW_WS_STATS_MS 2000	     /* ws_stats report interval */
#define KW_WS_FALLBACK_MS 500	     /* listening: the data generation read at least this often */
#define KW_WS_KEYS_MS 1000	     /* revoked-key check when kw-admin signalled a change */
#define KW_WS_KEYS_EVERY_MS 10000    /* and unconditionally (keys changed by hand) */
#define KW_WS_HEARTBEAT_MS 30000     /* heartbeat interval (override: --heartbeat-ms) */
#define KW_WS_STORE_RETRY_MS 5000    /* next poll after a failed store query */
#define KW_WS_SHUTDOWN_MS 3000	     /* time given to clients to take their 1001 */
#define KW_WS_ADDR_MAX KW_ADDR_MAX

struct kw_msg {
	int refs;
	size_t len;
	unsigned char *payload; /* buf + LWS_PRE: libwebsockets writes its frame header before */
	unsigned char buf[];
};

struct kw_client {
	struct lws *wsi;
	struct kw_client *prev, *next; /* hub list while established */
	char addr[KW_WS_ADDR_MAX];     /* client address, from the trusted proxy */
	int64_t key_id;		       /* api_keys.id it connected with (key or ticket); 0 none */
	int established;
	struct kw_sub sub;
	/* inbound */
	struct kw_buf rx; /* one message being reassembled, capped at WS_MAX_MESSAGE_BYTES */
	int rx_binary;
	int64_t rate_window_ms;
	int64_t rate_count;
	int errors;
	/* outbound */
	struct kw_msg *q[KW_WS_QUEUE_MAX];
	int qhead, qlen;
	size_t qbytes;
	int close_code; /* non-zero: close with this code at the next writable */
	const char *close_reason;
};

struct kw_addr_count;

struct kw_hub {
	const struct kw_config *cfg;
	struct lws_context *ctx;
	struct kw_store *store; /* opened at start; a failing query is retried, never fatal */
	struct kw_ticket_seen *seen;
	struct kw_rl *rl;	  /* kw-api's limiter table: blocks and failure counts, shared */
	uint64_t keys_generation; /* as last swept for revoked keys */
	int cluster;		  /* PostgreSQL: other nodes' kw-admin may revoke keys too */
	int cluster_limit; /* failures and blocks in the database (RATE_LIMIT_SCOPE=cluster) */
	struct kw_keys_stamp keys_stamp; /* the database's, as last swept (cluster only) */
	int64_t keys_swept_ms;		 /* monotonic */
	int64_t started_ms;		 /* tickets issued before this are refused (ticket.h) */
	int64_t heartbeat_ms;		 /* KW_WS_HEARTBEAT_MS unless overridden for tests */
	int stopping;
	/* settings parsed once at start */
	struct kw_origins *origins; /* ALLOWED_ORIGINS, normalised (origins.h) */
	struct kw_proxies proxies;  /* TRUSTED_PROXIES */
	int64_t whale_min_micros;
	char api_key_sha256[65]; /* hex SHA-256 of API_KEY ("" if unset), as auth.h hashes */
	/* clients */
	struct kw_client *clients;
	int64_t nclients;
	struct kw_addr_count **addr_table; /* KW_WS_ADDR_BUCKETS chains */
	/* following the store */
	int following;
	int listening;	   /* PostgreSQL: told of new data by NOTIFY (store_cluster.h) */
	int64_t polled_ms; /* monotonic: the last read of the data generation while listening */
	int64_t backlog_batch_ms; /* monotonic time of the last backlog batch; 0 = none */
	int64_t data_version, alert_id, trade_id, run_id;
	struct kw_msg *default_initial; /* initial_data for the default subscription, cached */
	struct kw_ws_items snapshot;	/* top markets by volume, cached until the next commit */
	int snapshot_ok;
	/* counters for ws_stats */
	int64_t sent, received;
	lws_sorted_usec_list_t sul_poll, sul_heartbeat, sul_stats, sul_keys;
};

/* hub.c */
struct kw_msg *kw_msg_new(const char *json, size_t len);
void kw_msg_unref(struct kw_msg *m);
/* Serialise {"type":type,"data":data,"timestamp":...} (data ownership taken, may be NULL). */
struct kw_msg *kw_msg_envelope(const char *type, json_object *data);
/* Queue m (a reference is taken) for c; overflow closes c. */
void kw_client_send(struct kw_hub *h, struct kw_client *c, struct kw_msg *m);
/* Ask libwebsockets to close c with code at its next writable moment (bounded by a timeout). */
void kw_client_close(struct kw_client *c, int code, const char *reason);
void kw_client_release(struct kw_client *c);
void kw_hub_attach(struct kw_hub *h, struct kw_client *c);
void kw_hub_detach(struct kw_hub *h, struct kw_client *c);
int64_t kw_hub_addr_count(struct kw_hub *h, const char *addr);
void kw_hub_start_timers(struct kw_hub *h);
void kw_hub_shutdown(struct kw_hub *h);
void kw_hub_write_stats(struct kw_hub *h);
/* initial_data for c's subscription (shared cached message for the default one). */
struct kw_msg *kw_hub_initial_data(struct kw_hub *h, const struct kw_client *c);
/* Answer a resume request (alerts with id > since_id, bounded). */
void kw_hub_resume(struct kw_hub *h, struct kw_client *c, int64_t since_id);
void kw_hub_free(struct kw_hub *h);

/* Build each item's message object from the rows the store returned (ws/items.c); an
 * alert's also sets its notional_micros, what size filters read. */
void kw_ws_items_build(struct kw_ws_items *it);

/* conn.c */
extern const struct lws_protocols kw_ws_protocols[];
/* Security event: a JSON log line, and for kw-api's types a security_events row. */
void kw_ws_security_event(struct kw_hub *h, const char *event, const char *reason, const char *addr,
			  int status);
/* 1 if the key is revoked (or gone), 0 if not, -1 if the database cannot say. */
int kw_ws_key_revoked(struct kw_hub *h, int64_t key_id);

#endif
