/*
 * fcgi-ceiling.c — the smallest useful libfcgi responder, the FastCGI ceiling that kw-api's
 * figures are compared with in `make bench`, behind the same lighttpd.
 *
 *   fcgi-ceiling          answers {"status":"ok"} with the two headers any answer needs
 *   fcgi-ceiling FILE     answers with FILE's bytes (a FastCGI response: headers, blank line,
 *                         body), read once at start — e.g. kw-api's own reply, captured, so
 *                         that the cost of the bytes on the wire is measured apart from the
 *                         cost of computing them
 *   -t N                  N accept threads, each with its own request, accepting under one
 *                         mutex as libfcgi's threaded example does (and as kw-api's KW_THREADS
 *                         do): the threaded ceiling
 *   -c                    accept and close as kw-api does (fcgi/accept.c says why both are
 *                         safe): no mutex around the accept, and each connection closed at
 *                         once when its input was read to its end, instead of libfcgi's
 *                         lingering close: shows how much of kw-api's figure comes from
 *                         those two alone
 * It runs until SIGTERM. Every serving thread blocks the signal and the main thread waits for
 * it, then ends the process: libfcgi's own handler only sets a flag for the accept it happens
 * to interrupt, and a thread waiting on the accept mutex would never see it, leaving the
 * process behind its stopped web server.
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 64

static char reply[65536] = "Status: 200 OK\r\n"
			   "Content-Type: application/json\r\n"
			   "Content-Length: 16\r\n"
			   "\r\n"
			   "{\"status\":\"ok\"}\n";
static size_t reply_len;
static int like_kw_api;
static pthread_mutex_t accept_mu = PTHREAD_MUTEX_INITIALIZER;

static void *serve(void *arg)
{
	FCGX_Request *req = arg;
	char sink[4096];
	for (;;) {
		/* a kept connection is waited on outside the mutex */
		int guarded = req->ipcFd < 0 && !like_kw_api;
		if (guarded)
			pthread_mutex_lock(&accept_mu);
		int rc = FCGX_Accept_r(req);
		if (guarded)
			pthread_mutex_unlock(&accept_mu);
		if (rc < 0)
			exit(0);
		FCGX_PutStr(reply, (int)reply_len, req->out);
		/* A kept connection carries the next request behind this one's input: libfcgi
		 * finds it only once this input was read to its end (kw-api: accept.c). */
		while ((req->keepConnection || like_kw_api) &&
		       FCGX_GetStr(sink, (int)sizeof(sink), req->in) > 0)
			;
		if (like_kw_api && !req->keepConnection && !FCGX_GetError(req->in))
			(void)FCGX_Detach(req);
		FCGX_Finish_r(req);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static FCGX_Request reqs[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	int threads = 1, c;
	while ((c = getopt(argc, argv, "ct:")) != -1) {
		char *end = NULL;
		long n = c == 't' ? strtol(optarg, &end, 10) : 0;
		if (c == 'c') {
			like_kw_api = 1;
			continue;
		}
		if (c != 't' || *end || n < 1 || n > MAX_THREADS) {
			fprintf(stderr, "usage: fcgi-ceiling [-c] [-t THREADS (1..%d)] [FILE]\n",
				MAX_THREADS);
			return 2;
		}
		threads = (int)n;
	}
	reply_len = strlen(reply);
	if (optind + 1 == argc) {
		FILE *f = fopen(argv[optind], "rb");
		if (!f) {
			perror(argv[optind]);
			return 1;
		}
		reply_len = fread(reply, 1, sizeof(reply), f);
		fclose(f);
		if (reply_len == 0 || reply_len == sizeof(reply)) {
			fprintf(stderr, "fcgi-ceiling: %s is empty or larger than %zu bytes\n",
				argv[optind], sizeof(reply) - 1);
			return 1;
		}
	}
	if (FCGX_Init() != 0)
		return 1;
	for (int i = 0; i < threads; i++)
		if (FCGX_InitRequest(&reqs[i], 0, 0) != 0)
			return 1;
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the threads inherit the mask */
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tids[i], NULL, serve, &reqs[i]) != 0)
			return 1;
	int sig;
	sigwait(&stop, &sig);
	return 0;
}
