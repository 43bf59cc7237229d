/*
 * loopback.h — a one-shot HTTP server on 127.0.0.1 for the unit tests of outbound POSTs
 * (test_post, test_webhook, test_sentry_send): it accepts one connection on a free port,
 * keeps the request exactly as it arrived (headers and body), answers with the status it was
 * given and closes. No other network: the tests see what our code really sends.
 *
 * Header-only, for test files: everything is static. One request per loopback_start.
 */
#ifndef KW_TEST_LOOPBACK_H
#define KW_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct loopback {
	int fd;
	int port;
	int status; /* the answer */
	pthread_t thread;
	char req[65536]; /* the request as read, NUL-terminated */
	size_t len;
	const char *body; /* into req: after the blank line */
};

/* Bytes of body the headers announce (Content-Length), or 0. */
static size_t loopback_content_length(const char *head)
{
	for (const char *p = head; (p = strchr(p, '\n')) != NULL;) {
		p++;
		if (!strncasecmp(p, "Content-Length:", 15))
			return (size_t)strtoul(p + 15, NULL, 10);
	}
	return 0;
}

static void *loopback_main(void *arg)
{
	struct loopback *lb = arg;
	struct pollfd pfd = { lb->fd, POLLIN, 0 };
	if (poll(&pfd, 1, 10000) != 1)
		return NULL;
	int c = accept(lb->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	int continued = 0;
	for (;;) {
		struct pollfd cp = { c, POLLIN, 0 };
		if (poll(&cp, 1, 10000) != 1)
			break;
		ssize_t n = read(c, lb->req + lb->len, sizeof(lb->req) - 1 - lb->len);
		if (n <= 0)
			break;
		lb->len += (size_t)n;
		lb->req[lb->len] = '\0';
		char *end = strstr(lb->req, "\r\n\r\n");
		if (!end)
			continue;
		if (!continued && strcasestr(lb->req, "\r\nExpect: 100-continue")) {
			continued = 1;
			if (write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 25)
				break;
		}
		lb->body = end + 4;
		if ((size_t)(lb->req + lb->len - lb->body) >= loopback_content_length(lb->req))
			break;
	}
	char answer[128];
	int n = snprintf(answer, sizeof(answer),
			 "HTTP/1.1 %d Answer\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
			 lb->status);
	if (write(c, answer, (size_t)n) != n)
		perror("loopback: write");
	close(c);
	return NULL;
}

/* Listen on a free port and serve one request in a thread; 0, or -1. */
static int loopback_start(struct loopback *lb, int status)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	memset(lb, 0, sizeof(*lb));
	lb->status = status;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lb->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lb->fd < 0 || bind(lb->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lb->fd, 4) < 0 || getsockname(lb->fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	lb->port = ntohs(a.sin_port);
	return pthread_create(&lb->thread, NULL, loopback_main, lb) == 0 ? 0 : -1;
}

/* Wait for the request to be served; the listening socket is closed. */
static void loopback_wait(struct loopback *lb)
{
	pthread_join(lb->thread, NULL);
	close(lb->fd);
}

/* A port nothing listens on: bound, then closed (a connection to it is refused). */
static int loopback_closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

#endif
