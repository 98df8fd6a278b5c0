/*
 * freeport.c — print N loopback ports that are free for both TCP and UDP,
 * one per line, for end-to-end tests that start servers which cannot bind
 * port 0 themselves (Kamailio, SIPp). Each port is held (TCP and UDP
 * sockets bound) until all N are found, so the N are distinct; they are
 * released on exit, which leaves a small window in which another process
 * could take one: the tests treat a bind failure as a failure.
 *
 *   e2e_freeport N     (1 <= N <= 64)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FREEPORT_MAX 64
#define FREEPORT_TRIES 1000

static int bind_port(int type, uint16_t port, uint16_t *out)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, type, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		close(fd);
		return -1;
	}
	*out = ntohs(sa.sin_port);
	return fd;
}

int main(int argc, char **argv)
{
	int fds[2 * FREEPORT_MAX];
	uint16_t ports[FREEPORT_MAX];
	int n = argc == 2 ? atoi(argv[1]) : 0, have = 0, nfd = 0;

	if (n < 1 || n > FREEPORT_MAX) {
		fprintf(stderr, "usage: e2e_freeport N   (1..%d)\n", FREEPORT_MAX);
		return 2;
	}
	for (int tries = 0; have < n && tries < FREEPORT_TRIES; tries++) {
		uint16_t p, q;
		int t = bind_port(SOCK_STREAM, 0, &p);
		if (t < 0)
			continue;
		int u = bind_port(SOCK_DGRAM, p, &q);
		if (u < 0) {
			close(t);
			continue;
		}
		fds[nfd++] = t;
		fds[nfd++] = u;
		ports[have++] = p;
	}
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	if (have < n) {
		fprintf(stderr, "e2e_freeport: found only %d free ports\n", have);
		return 1;
	}
	for (int i = 0; i < n; i++)
		printf("%u\n", ports[i]);
	return 0;
}
