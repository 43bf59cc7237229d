/*
 * fcgi-ceiling.c — the smallest useful libfcgi responder: answers every request with a fixed
 * JSON body of the same shape as /api/health. Behind the same lighttpd as kw-api it measures
 * the FastCGI ceiling that kw-api's figures are compared with in `make bench`.
 */
#include <fcgiapp.h>
#include <string.h>

int main(void)
{
	static const char reply[] = "Status: 200 OK\r\n"
				    "Content-Type: application/json\r\n"
				    "Content-Length: 16\r\n"
				    "\r\n"
				    "{\"status\":\"ok\"}\n";
	FCGX_Request req;
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(reply, (int)strlen(reply), req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}
