/*
 * fcgi-ceiling.c — the smallest useful libfcgi responder, the FastCGI ceiling that kw-api's
 * figures are compared with in `make bench`, behind the same lighttpd.
 *
 *   fcgi-ceiling          answers {"status":"ok"} with the two headers any answer needs
 *   fcgi-ceiling FILE     answers with FILE's bytes (a FastCGI response: headers, blank line,
 *                         body), read once at start — e.g. kw-api's own reply, captured, so
 *                         that the cost of the bytes on the wire is measured apart from the
 *                         cost of computing them
 */
#include <fcgiapp.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	static char reply[65536] = "Status: 200 OK\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: 16\r\n"
				   "\r\n"
				   "{\"status\":\"ok\"}\n";
	size_t len = strlen(reply);
	if (argc == 2) {
		FILE *f = fopen(argv[1], "rb");
		if (!f) {
			perror(argv[1]);
			return 1;
		}
		len = fread(reply, 1, sizeof(reply), f);
		fclose(f);
		if (len == 0 || len == sizeof(reply)) {
			fprintf(stderr, "fcgi-ceiling: %s is empty or larger than %zu bytes\n",
				argv[1], sizeof(reply) - 1);
			return 1;
		}
	}
	FCGX_Request req;
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(reply, (int)len, req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}
