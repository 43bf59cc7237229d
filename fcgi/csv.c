/*
 * csv.c — CSV for the data routes (contract in api.h): RFC 4180 fields with formula
 * neutralising, and the paged export stream.
 */
#include "csv.h"

#include <string.h>

#include "api.h"
#include "log.h"

/* ---- CSV ----------------------------------------------------------------------------------- */

int kw_api_wants_csv(struct kw_req *r)
{
	const struct kw_qval *f = kw_query_get(&r->q, "format");
	if (f)
		return !strcmp(f->str, "csv");
	const char *accept = kw_req_param(r, "HTTP_ACCEPT");
	if (!accept)
		return 0;
	/* text/csv before any JSON type in the list wins; we do not weigh q-values. */
	const char *csv = strstr(accept, "text/csv");
	const char *json = strstr(accept, "application/json");
	return csv && (!json || csv < json);
}

int kw_csv_field(struct kw_buf *b, const char *s, int last)
{
	int rc = 0;
	if (!s)
		s = "";
	int quote = strpbrk(s, ",\"\r\n") != NULL;
	/* OWASP CSV injection: a text cell that starts like a formula is prefixed with ', whatever
	 * follows ("-2+3+cmd|..." is a formula to a spreadsheet, not a negative number). */
	int formula = s[0] && strchr("=+-@\t\r", s[0]) != NULL;
	if (quote || formula)
		rc |= kw_buf_puts(b, "\"");
	if (formula)
		rc |= kw_buf_puts(b, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			rc |= kw_buf_puts(b, "\"\"");
		else
			rc |= kw_buf_append(b, p, 1);
	}
	if (quote || formula)
		rc |= kw_buf_puts(b, "\"");
	rc |= kw_buf_puts(b, last ? "\r\n" : ",");
	return rc ? -1 : 0;
}

int kw_csv_number(struct kw_buf *b, const char *s, int last)
{
	int rc = 0;
	if (s)
		rc |= kw_buf_puts(b, s);
	rc |= kw_buf_puts(b, last ? "\r\n" : ",");
	return rc ? -1 : 0;
}

int kw_csv_row(struct kw_buf *b, const char *const *fields, size_t n, uint32_t numeric)
{
	for (size_t i = 0; i < n; i++) {
		int last = i + 1 == n;
		int rc = (numeric >> i) & 1 ? kw_csv_number(b, fields[i], last)
					    : kw_csv_field(b, fields[i], last);
		if (rc < 0)
			return -1;
	}
	return 0;
}

void kw_api_stream_csv(struct kw_req *r, const char *columns, int64_t max_rows,
		       kw_csv_page_fn next_page, void *ctx)
{
	struct kw_buf b;
	int64_t sent = 0;
	if (kw_api_heavy_or_reply(r) < 0)
		return;
	kw_buf_init(&b, 0);
	if (kw_reply_stream_begin(r, 200, "text/csv; charset=utf-8") < 0 ||
	    !strcmp(r->method, "HEAD") || kw_buf_puts(&b, columns) < 0 ||
	    kw_buf_puts(&b, "\r\n") < 0)
		goto out;
	for (;;) {
		int64_t n = 0,
			limit = max_rows - sent < KW_CSV_PAGE ? max_rows - sent : KW_CSV_PAGE;
		int more = 0;
		if (next_page(ctx, &b, limit, &n, &more) < 0) {
			/* The head is gone: all we can do is stop; the client sees a short file. */
			kw_error(
				"csv: export of %.200s stopped by a database error after %lld rows",
				r->path, (long long)sent);
			goto out;
		}
		sent += n;
		if (kw_reply_stream_write(r, b.data ? b.data : "", b.len) < 0)
			goto out;
		kw_buf_reset(&b);
		if (!more || sent >= max_rows)
			break;
	}
out:
	kw_buf_free(&b);
	if (r->thr->heavy_state == 1) /* before the client sees the end (kw_reply_send) */
		kw_heavy_leave(&r->thr->heavy);
}
