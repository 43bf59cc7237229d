/*
 * store_copy.h — moving an installation: a SQLite store copied whole into a new PostgreSQL
 * database (`kw-admin db copy --to URL`). The caller reports; this does the work and says
 * what it found.
 */
#ifndef KW_STORE_COPY_H
#define KW_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One table of the copy: its rows in the source's snapshot and in the target after the copy
 * (-1 when the copy stopped before counting them). */
struct kw_copy_count {
	char table[64];
	int64_t source_rows, target_rows;
};

/* Every table of the source, in the order copied. Owned: kw_copy_report_free. */
struct kw_copy_report {
	struct kw_copy_count *tables;
	int ntables;
};

enum kw_copy_result {
	KW_COPY_DONE,	  /* copied, every count agrees, committed */
	KW_COPY_MISMATCH, /* copied, but a count differs: rolled back (the report says where) */
	KW_COPY_REFUSED,  /* the target already holds data: nothing written (err says where) */
	KW_COPY_FAILED,	  /* an error (err): nothing written */
};

/*
 * Copy every table of src (a SQLite store) into the PostgreSQL database at url, which is
 * migrated first and must hold no data yet (only the rows its schema seeds). The source is
 * read as one snapshot, so its writers may keep running (their later rows are not copied);
 * the target is written in one transaction, with every identity sequence moved past the
 * copied ids, and committed only when each table's row count in the target equals the
 * source's. rep is filled in whatever the result (empty when the copy never started);
 * err holds one line for REFUSED and FAILED, with url's password masked.
 */
enum kw_copy_result kw_store_copy_to(struct kw_store *src, const char *url,
				     struct kw_copy_report *rep, char *err, size_t errlen) KW_WUR;
void kw_copy_report_free(struct kw_copy_report *rep);

#endif
