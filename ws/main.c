/*
 * main.c — kw-ws placeholder. The foundation issue creates the folder; its own issue fills it
 * (kw-fetch: the Kalshi fetcher; kw-ws: the WebSocket sidecar). Until then it only answers
 * --help and --version and refuses to run, with exit status 2.
 */
#include <stdio.h>
#include <string.h>

#include "version.h"

int main(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: kw-ws [--help] [--version]\n"
		       "kw-ws is not implemented yet in this version of KalshiWhale.\n");
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("kw-ws %s\n", KW_VERSION);
		return 0;
	}
	fprintf(stderr, "kw-ws: not implemented yet; see --help\n");
	return 2;
}
