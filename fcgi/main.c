/*
 * main.c — kw-api: the KalshiWhale FastCGI worker. It only starts up, accepts and dispatches;
 * each resource lives in its own file (status.c, ...), the route table in routes.c.
 *
 * Started three ways:
 *   - by lighttpd's mod_fastcgi (bin-path) or spawn-fcgi / a systemd socket unit: the listening
 *     socket is file descriptor 0 (FCGI_LISTENSOCK_FILENO);
 *   - with --socket PATH|HOST:PORT: it binds that socket itself (for mod_proxy_fcgi);
 *   - by a web server as a plain CGI program: it answers the one request in its environment.
 * A FastCGI worker process serves with KW_THREADS accept threads (accept.c), each handling
 * one request at a time with the reentrant FCGX_* API; run several processes besides
 * (max-procs, --workers). SIGTERM and SIGINT stop the worker between requests. A CGI process
 * answers its one request on the main thread.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "app.h"
#include "log.h"
#include "monitoring.h"
#include "version.h"
#include "writer.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kw-api [OPTIONS]\n"
		"KalshiWhale API worker (FastCGI). Serves /api/* behind lighttpd or Apache.\n"
		"\n"
		"  (no options)         serve FastCGI on file descriptor 0, as lighttpd's "
		"bin-path,\n"
		"                       spawn-fcgi and systemd socket units provide it; or answer "
		"one\n"
		"                       request as a CGI program when started by a CGI server\n"
		"  --socket ADDR        bind ADDR (a unix socket path, or HOST:PORT) and serve it\n"
		"  --backlog N          listen backlog for --socket (default 128)\n"
		"  --workers N          run N worker processes on the socket and replace any that\n"
		"                       exit (for systemd socket units and --socket; lighttpd's\n"
		"                       max-procs does this itself). Without it, this process\n"
		"                       serves the socket itself\n"
		"  --check-config       validate the configuration and the database, then exit\n"
		"  --version            print the version and exit\n"
		"  --openapi            print the OpenAPI document (/api/openapi.json) and exit\n"
		"  -h, --help           show this help and exit\n"
		"\n"
		"Configuration comes from the environment and the .env file named by KW_ENV_FILE\n"
		"(default ./.env); see the README for every setting.\n"
		"Exit status: 0 stopped cleanly, 1 start-up failure, 2 usage error, 78 invalid "
		"configuration.\n");
}

/* The document a client generator reads, without a server or settings: the same bytes as
 * GET /api/openapi.json. */
static int print_openapi(void)
{
	json_object *doc = kw_openapi_document();
	const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	int rc = s && puts(s) >= 0 && fflush(stdout) == 0 ? 0 : 1;
	json_object_put(doc);
	return rc;
}

/* The command line. */
struct args {
	const char *sock_addr;	  /* --socket, else NULL */
	int64_t backlog, workers; /* workers 0: no supervisor */
	int check_only;
};

/* Parse the command line into a; -1 to go on, else the exit status (--help, --version, a
 * usage error). */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "workers", required_argument, NULL, 'w' },
		{ "check-config", no_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "openapi", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	*a = (struct args){ .backlog = 128 };
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': a->sock_addr = optarg; break;
		case 'b':
			if (kw_parse_i64(optarg, 1, 65535, &a->backlog) < 0) {
				fprintf(stderr, "kw-api: --backlog must be 1..65535\n");
				return 2;
			}
			break;
		case 'w':
			if (kw_parse_i64(optarg, 1, 256, &a->workers) < 0) {
				fprintf(stderr, "kw-api: --workers must be 1..256\n");
				return 2;
			}
			break;
		case 'c': a->check_only = 1; break;
		case 'V': printf("kw-api %s\n", KW_VERSION); return 0;
		case 'o': return print_openapi();
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kw-api: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Settings, log and the one verdict on them; -1 to go on, else the exit status. */
static int load_config(struct kw_app *app)
{
	char err[512];
	if (kw_config_start(&app->cfg, "kw-api", -1, err, sizeof(err)) < 0) {
		fprintf(stderr, "kw-api: %s\n", err);
		return KW_EX_CONFIG;
	}
	return -1;
}

static void app_close(struct kw_app *app)
{
	kw_sec_shutdown(app);
	kw_config_free(&app->cfg);
}

/* t's database connection, or the reason it has none (then retried on use). */
static void open_store(struct kw_app *app, struct kw_thread *t)
{
	t->store = kw_store_open(app->cfg.db_target, KW_API_DB_FLAGS, t->store_err,
				 sizeof(t->store_err));
	if (!t->store)
		t->store_retry_at = kw_mono_us() + KW_STORE_RETRY_US;
}

/* The database and the gate for this process, t the first thread's state; -1 to go on, else
 * the exit status. An unusable database is no reason to stop (/api/health answers 503 and the
 * open is retried), except for --check-config, which reports it. */
static int open_resources(struct kw_app *app, struct kw_thread *t, int check_only)
{
	char err[512];
	app->started_at = kw_now_s();
	kw_thread_init(t, app, 0);
	open_store(app, t);
	/* Fail-closed checks and the limiter; --check-config reports an unusable database
	 * first, since the limiter's table lives next to it. */
	if ((t->store || !check_only) && kw_sec_init(app, t->store, err, sizeof(err)) < 0) {
		fprintf(stderr, "kw-api: %s\n", err);
		return KW_EX_CONFIG;
	}
	if (check_only) {
		if (!t->store) {
			fprintf(stderr, "kw-api: %s\n", t->store_err);
			return 1;
		}
		printf("kw-api: configuration and database OK (schema version %d)\n",
		       kw_db_schema_version());
		kw_thread_close(t);
		app_close(app);
		return 0;
	}
	if (!t->store) {
		/* Keep running: /api/health answers 503 and the open is retried, rather than the
		 * web server respawning a worker that dies at once. */
		kw_error("%s", t->store_err);
	}
	return -1;
}

/* The one request of a CGI process, on the main thread: its counts are written now, not
 * METRICS_FLUSH_SECONDS later, or every counter would lose what a CGI request added. */
static int serve_cgi(struct kw_app *app, struct kw_thread *t)
{
	static struct kw_req req;
	req.app = app;
	req.thr = t;
	app->cgi = 1;
	kw_mon_start(app);
	kw_writer_start(app, t, 0);
	kw_serve_one(&req);
	fflush(stdout);
	kw_req_reset(&req);
	kw_writer_stop(app);
	kw_mon_shutdown(app);
	kw_thread_close(t);
	app_close(app);
	return 0;
}

/* --socket: bind it; the listening descriptor, or -1 (logged). Without it, descriptor 0. */
static int open_listener(const struct args *a)
{
	if (!a->sock_addr)
		return 0;
	int fd = FCGX_OpenSocket(a->sock_addr, (int)a->backlog);
	if (fd < 0) {
		kw_error("cannot listen on %s: %s", a->sock_addr, strerror(errno));
		return -1;
	}
	/* A unix socket: the web server (another user, in kw-api's group) connects. */
	if (a->sock_addr[0] != ':' && strchr(a->sock_addr, '/') && chmod(a->sock_addr, 0660) < 0) {
		kw_error("cannot set the permissions of %s: %s", a->sock_addr, strerror(errno));
		return -1;
	}
	return fd;
}

/* --workers: the supervisor forks the workers and returns their verdict; each worker opens
 * its own connections and gate. -1 in a worker, to go on serving. */
static int become_worker(struct kw_app *app, struct kw_thread *t, int64_t workers)
{
	char err[512];
	/* Checked above once; each worker now opens its own connection. */
	kw_sec_shutdown(app);
	kw_thread_close(t);
	int prc = kw_prefork((int)workers);
	if (prc != KW_PREFORK_CHILD) {
		kw_config_free(&app->cfg);
		return prc;
	}
	kw_thread_init(t, app, 0); /* a request id prefix of its own */
	open_store(app, t);
	if (!t->store)
		kw_error("%s", t->store_err);
	if (kw_sec_init(app, t->store, err, sizeof(err)) < 0) {
		kw_error("%s", err);
		return KW_EX_CONFIG;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static struct kw_app app;
	static struct kw_thread first; /* the first accept thread's state (the CGI request's) */
	struct args a;
	int rc;

	/* Nothing this program creates (database, limiter table, logs, spools) is for other
	 * users: the database holds key hashes and client addresses. */
	umask(027);
	if ((rc = parse_args(argc, argv, &a)) >= 0 || (rc = load_config(&app)) >= 0)
		return rc;
	/* SQLite takes ~90 KB for a read and frees it; with glibc's default trim threshold each
	 * request then moved the heap top up and down (two brk(2) calls). Keep the memory. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	/* kw-api uses libcrypto for SHA-256 and HMAC only; reading openssl.cnf (and whatever it
	 * loads) added ~0.6 MB to every worker's resident set. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	pthread_mutex_init(&app.mon_mu, NULL);
	if ((rc = open_resources(&app, &first, a.check_only)) >= 0)
		return rc;
	if (FCGX_Init() != 0) {
		kw_error("FCGX_Init failed");
		return 1;
	}
	if (!a.sock_addr && FCGX_IsCGI())
		return serve_cgi(&app, &first);
	int listen_fd = open_listener(&a);
	if (listen_fd < 0)
		return 1;
	if (a.workers > 0 && (rc = become_worker(&app, &first, a.workers)) >= 0)
		return rc;
	rc = kw_serve_threads(&app, &first, listen_fd);
	app_close(&app);
	return rc;
}
