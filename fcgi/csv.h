/*
 * csv.h — CSV for the data routes (csv.c): RFC 4180 fields and the paged export stream.
 */
#ifndef KW_FCGI_CSV_H
#define KW_FCGI_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"

/* 1 when the client asked for CSV (?format=csv or an Accept naming text/csv first). */
int kw_api_wants_csv(struct kw_req *r);
/* Append one text CSV field (RFC 4180 quoting; a cell starting with = + - @ tab or CR is
 * prefixed with ' so that a spreadsheet never runs it as a formula, as OWASP advises). */
int kw_csv_field(struct kw_buf *b, const char *s, int last) KW_WUR;
/* Append one numeric field as it is: s is our own formatting of a number, never outside text. */
int kw_csv_number(struct kw_buf *b, const char *s, int last) KW_WUR;
/* One CSV line of n <= 32 fields (NULL = empty); bit i of numeric marks field i a number. */
int kw_csv_row(struct kw_buf *b, const char *const *fields, size_t n, uint32_t numeric) KW_WUR;

/* CSV export: send the head and the `columns` line, then ask next_page for pages of at most `limit`
 * rows (appended to b as CSV lines; *n rows, *more if more follow; it advances its own cursor)
 * and write each as it comes, until done or max_rows. HEAD gets the head only. */
#define KW_CSV_PAGE 500
#define KW_CSV_MAX_ROWS 100000
typedef int (*kw_csv_page_fn)(void *ctx, struct kw_buf *b, int64_t limit, int64_t *n, int *more);
void kw_api_stream_csv(struct kw_req *r, const char *columns, int64_t max_rows,
		       kw_csv_page_fn next_page, void *ctx);

#endif
