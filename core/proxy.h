/* proxy.h - the PROXY protocol header (haproxy's proxy-protocol.txt,
 * versions 1 and 2): parsing one in front of a stream, and building one.
 *
 * Pure functions on byte buffers: no sockets, no allocation, so the
 * connection code decides when to read and what to do with a verdict, and
 * the parser can be tested and fuzzed on its own. */
#ifndef SUPERD_PROXY_H
#define SUPERD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest header this parser accepts: a v1 line is at most 107 bytes;
 * a v2 header carries at most this much (addresses and TLVs).  A client
 * that sends more without completing a header is refused. */
#define PROXY_V1_MAX 107
#define PROXY_MAX 536

/* What a header says. */
struct proxy_hdr {
    int version;                    /* 1 or 2 */
    bool local;                     /* v2 LOCAL or v1 UNKNOWN: use the real endpoints */
    struct sockaddr_storage src;    /* the client, when !local */
    struct sockaddr_storage dst;    /* the address it connected to, when !local */
    socklen_t srclen, dstlen;
};

/*
 * Parse the header at the start of buf[0..len).  Returns its length (> 0)
 * once it is complete and valid (the bytes after it are the stream's own),
 * 0 when more bytes are needed, or -EPROTO when it is not a valid PROXY
 * header (wrong signature, a malformed line or address, a header longer
 * than PROXY_MAX, a v2 PROXY command whose transport is not UNSPEC or
 * STREAM: headers come on stream connections only).  TLVs of v2 are skipped.  Fills *out only on success.
 */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *out);

/*
 * Write a header for a stream from src to dst (both AF_INET or both
 * AF_INET6; anything else is sent as v1 UNKNOWN / v2 LOCAL) into buf.
 * version is 1 or 2.  Returns its length, or -ENOSPC when cap is too small
 * (PROXY_MAX always suffices), -EINVAL for another version.
 */
int proxy_build(int version, const struct sockaddr *src, const struct sockaddr *dst,
                uint8_t *buf, size_t cap);

/* A short reason for the log for a parse result < 0 or an incomplete
 * header at a deadline. */
const char *proxy_strerror(int r);

#endif
