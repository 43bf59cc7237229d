/*
 * run.h — the state of one kw-fetch run, shared by run.c (the phases and the run) and pages.c
 * (the paginated listings). Not used outside fetch/.
 *
 * Ownership: run.c allocates a struct kw_run for the length of kw_fetch_run and frees it there;
 * pages.c borrows it for one listing. Only the calling thread touches SQLite, the tally and
 * the run's outcome; pages.c's reader thread uses the client and r->body alone.
 */
#ifndef KW_FETCH_RUN_H
#define KW_FETCH_RUN_H

#include <stdint.h>

#include "fetch.h"
#include "kalshi.h"

#define KW_RUN_SKIP_REASONS_MAX 32

/* What stored pages added; a rolled-back page restores the copy taken before it. */
struct kw_run_tally {
	int64_t markets, trades, skipped, trade_max_us;
	int catalog_changed;
	struct {
		const char *reason;
		int64_t n;
	} skips[KW_RUN_SKIP_REASONS_MAX];
	int nskips;
};

struct kw_run {
	struct kw_fetch_ctx *ctx;
	const struct kw_config *cfg;
	struct kw_store *store;
	int64_t id, now, shift_us, started_us;
	int64_t cpu_started_us, cpu_detect_us; /* this process's CPU time: start, detection */
	int replay;
	int64_t pages, books;
	int64_t trade_wm_old, trade_min_ts;
	struct kw_run_tally n;
	enum kw_get markets_fail; /* KW_GET_OK when the markets phase completed */
	int markets_listed;	  /* at least one markets page was read (a replay may have none) */
	int market_as_it_was;	  /* the last market was stored unchanged (kw_store_fetch_market) */
	int partial;		  /* a later phase failed */
	int force_catalog;	  /* a refresh request asked for the catalog now */
	int db_failed;
	char error[256];
	struct kw_buf body;
};

/* One paginated listing: where its pages come from and how each record is stored. */
struct kw_pager {
	const char *name;   /* for messages: "markets" */
	const char *what;   /* one record, for skip lines: "market" */
	const char *id_key; /* the member that names a record, for skip lines */
	enum kw_fetch_kind kind;
	const char *path, *query, *array_key;
	enum kw_kalshi_kind record; /* what the elements are */
	const size_t *strs; /* offsets of the record's string members, copied into the page */
	size_t nstrs;
	int (*store)(struct kw_run *r,
		     const union kw_kalshi_record *u); /* -1 only on a database failure */
	int (*page_end)(struct kw_run *r, int last);   /* inside the page transaction */
};

/* The run's error line: the first cause is kept, later ones usually follow from it. */
void kw_run_error(struct kw_run *r, const char *fmt, ...) KW_PRINTF(2, 3);
/* Count (and log the first few) skipped records, by reason (a static string). */
void kw_run_skip(struct kw_run *r, const char *what, const char *id, const char *reason);
/* A stop signal has arrived. */
int kw_run_stopped(const struct kw_run *r);
/* Transactions: on failure the run is marked failed (r->db_failed) and -1 returned. */
int kw_run_tx_begin(struct kw_run *r);
int kw_run_tx_commit(struct kw_run *r);
/* Roll back, mark the run failed with what failed; always -1. */
int kw_run_db_fail(struct kw_run *r, const char *what);

/* pages.c: walk every page of a listing, storing each whole or not at all; KW_GET_OK when the
 * listing was read to its end, else what stopped it (the run's error says why). */
enum kw_get kw_pages_walk(struct kw_run *r, const struct kw_pager *p);

#endif
