/*
 * sdk_client.c - a tiny loopback TCP client for tests/sdk.sh.
 *
 *   sdk_client port
 *       print a TCP port of 127.0.0.1 that is free right now
 *   sdk_client [-t MS] [-b RCVBUF] [-c] PORT ACTION...
 *       connect to 127.0.0.1:PORT (retrying while refused, so a server
 *       still starting is waited for), run the actions in order, and print
 *       every byte received on stdout:
 *         w:TEXT   send TEXT (\n, \r and \\ are escapes)
 *         s:MS     sleep MS milliseconds
 *         h        shut the sending side (the server sees EOF)
 *         r:N      receive until N bytes in all have arrived, or EOF
 *         e        receive until EOF
 *       -t MS      deadline for the whole run (default 10000)
 *       -b RCVBUF  SO_RCVBUF set before connecting (a slow, small reader)
 *       -c         check that what arrived is the RFC 864 chargen pattern
 *                  (72 characters and CRLF a line) and print "N bytes"
 *                  instead of the bytes
 * Exit status: 0 done, 1 an error or the deadline (said on stderr),
 * 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long deadline_ms;
static char *got;
static size_t got_len, got_cap;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(void)
{
    long long left = deadline_ms - now_ms();

    return left > 0 ? (int)left : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int free_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        perror("sdk_client: port");
        return 1;
    }
    printf("%u\n", ntohs(sin.sin_port));
    close(fd);
    return 0;
}

static int connect_retry(int port, int rcvbuf)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
            return -1;
        if (rcvbuf > 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
            return fd;
        close(fd);
        if (errno != ECONNREFUSED || left_ms() == 0) {
            fprintf(stderr, "sdk_client: connect 127.0.0.1:%d: %s\n", port, strerror(errno));
            return -1;
        }
        sleep_ms(50);
    }
}

/* Receive until `want` bytes in all (0: until EOF).  0, or -1 on a
 * timeout or an error. */
static int receive(int fd, size_t want)
{
    while (want == 0 || got_len < want) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, left_ms());

        if (r == 0) {
            fprintf(stderr, "sdk_client: timed out after %zu bytes\n", got_len);
            return -1;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (got_cap - got_len < 65536) {
            got_cap = got_cap ? 2 * got_cap : 1 << 20;
            got = realloc(got, got_cap);
            if (got == NULL)
                return -1;
        }
        ssize_t n = recv(fd, got + got_len, want ? (want - got_len < 65536 ? want - got_len : 65536) : 65536, 0);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fprintf(stderr, "sdk_client: recv: %s\n", strerror(errno));
            return -1;
        }
        got_len += (size_t)n;
    }
    return 0;
}

static int send_text(int fd, const char *text)
{
    char buf[4096];
    size_t n = 0;

    for (const char *p = text; *p != '\0' && n < sizeof buf; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            buf[n++] = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
        } else {
            buf[n++] = *p;
        }
    }
    if (send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n) {
        fprintf(stderr, "sdk_client: send: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* The RFC 864 pattern: line L holds the 72 characters ' ' + (L + i) % 95. */
static int check_chargen(void)
{
    for (size_t i = 0; i < got_len; i++) {
        size_t line = i / 74, col = i % 74;
        char want = col == 72 ? '\r' : col == 73 ? '\n' : (char)(' ' + (line + col) % 95);

        if (got[i] != want) {
            fprintf(stderr, "sdk_client: not the chargen pattern at byte %zu\n", i);
            return -1;
        }
    }
    printf("%zu bytes\n", got_len);
    return 0;
}

int main(int argc, char **argv)
{
    int timeout = 10000, rcvbuf = 0, check = 0, opt, fd, r = 0;

    if (argc == 2 && strcmp(argv[1], "port") == 0)
        return free_port();
    while ((opt = getopt(argc, argv, "t:b:c")) != -1) {
        switch (opt) {
        case 't': timeout = atoi(optarg); break;
        case 'b': rcvbuf = atoi(optarg); break;
        case 'c': check = 1; break;
        default: return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: sdk_client port | [-t MS] [-b RCVBUF] [-c] PORT ACTION...\n");
        return 2;
    }
    deadline_ms = now_ms() + timeout;
    fd = connect_retry(atoi(argv[optind]), rcvbuf);
    if (fd < 0)
        return 1;
    for (int i = optind + 1; r == 0 && i < argc; i++) {
        const char *a = argv[i];

        if (strncmp(a, "w:", 2) == 0)
            r = send_text(fd, a + 2);
        else if (strncmp(a, "s:", 2) == 0)
            sleep_ms(atol(a + 2));
        else if (strcmp(a, "h") == 0)
            r = shutdown(fd, SHUT_WR);
        else if (strncmp(a, "r:", 2) == 0)
            r = receive(fd, strtoul(a + 2, NULL, 10));
        else if (strcmp(a, "e") == 0)
            r = receive(fd, 0);
        else {
            fprintf(stderr, "sdk_client: unknown action %s\n", a);
            r = -1;
        }
    }
    close(fd);
    if (check) {
        if (check_chargen() < 0)
            r = -1;
    } else if (got_len > 0) {
        fwrite(got, 1, got_len, stdout);
    }
    free(got);
    return r == 0 ? 0 : 1;
}
