/* admit.c - one admission path for stream connections and datagrams. */
#include "admit.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "access.h"
#include "addr.h"
#include "log.h"
#include "serve.h"
#include "service.h"
#include "sources.h"
#include "stats.h"

enum kind { STREAM, DGRAM };

/* Count a refusal by its reason and log it, at most one line a second per
 * service and kind (a flood of refusals must not flood the log, nor hide
 * another service's). */
static void refuse(struct listener *l, enum kind k, const struct sockaddr *sa, socklen_t salen,
                   enum stats_refusal why, const char *rule)
{
    unsigned long missed;
    stats_refused(l->svc->row, why);
    STATS_ADD(l->row, refused_by[why], 1);
    if (!log_limit_pass(&l->svc->log_refused[k], &missed))
        return;
    char peer[ADDR_FMT_MAX + 8];
    /* A unix stream peer reads as its connections do: "unix:PATH". */
    bool unix_stream = k == STREAM && sa->sa_family == AF_UNIX;
    if (unix_stream)
        memcpy(peer, "unix:", 6);
    addr_format(sa, salen, peer + (unix_stream ? 5 : 0), ADDR_FMT_MAX);
    if (k == STREAM)
        log_msg(LOG_WARNING, "[%s] %s: refused %s: %s (%lu more refusals)",
                l->svc->cs->name, l->addr.text, peer, rule, missed);
    else
        log_msg(LOG_WARNING, "[%s] %s: dropped a datagram from %s: %s (%lu more refusals)",
                l->svc->cs->name, l->addr.text, peer, rule, missed);
}

static bool in_ids(const unsigned *ids, size_t n, unsigned id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* only_uid / only_gid on a unix stream socket: the peer's credentials as
 * the kernel saw them at connect (SO_PEERCRED), never what it says. */
static bool creds_allowed(const struct conf_service *cs, int fd, char *rule, size_t rulelen)
{
    if (!cs->only_uid.n && !cs->only_gid.n)
        return true;
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
        snprintf(rule, rulelen, "peer credentials unknown");
        return false;
    }
    if (cs->only_uid.n && !in_ids(cs->only_uid.v, cs->only_uid.n, (unsigned)cr.uid)) {
        snprintf(rule, rulelen, "only_uid: uid %u not allowed", (unsigned)cr.uid);
        return false;
    }
    if (cs->only_gid.n && !in_ids(cs->only_gid.v, cs->only_gid.n, (unsigned)cr.gid)) {
        snprintf(rule, rulelen, "only_gid: gid %u not allowed", (unsigned)cr.gid);
        return false;
    }
    return true;
}

/* The rule text of a per-source verdict. */
static enum stats_refusal source_rule(const struct conf_service *cs, enum src_verdict v,
                                      char *rule, size_t rulelen)
{
    if (v == SRC_TOO_MANY) {
        snprintf(rule, rulelen, "max_per_source %ld reached", cs->max_per_source);
        return STATS_REFUSED_PER_SOURCE;
    }
    if (v == SRC_RATE) {
        snprintf(rule, rulelen, "rate_limit %u/%s exceeded", cs->rate_limit.count,
                 cs->rate_limit.per_ms == 1000 ? "s" : "m");
        return STATS_REFUSED_RATE;
    }
    snprintf(rule, rulelen, "per-source table full (%d sources)", SOURCES_CAPACITY);
    return STATS_REFUSED_TABLE_FULL;
}

/* No statistics slot: a limit that cannot be counted refuses. */
static bool has_limits(const struct conf_service *cs, const struct conf *c, enum kind k)
{
    if (k == DGRAM)
        return cs->rate_limit.count != 0;
    return cs->max_per_source || cs->rate_limit.count || cs->max_connections ||
           c->max_connections;
}

const struct sockaddr_storage *admit_source(const struct listener *l, int fd,
                                            const struct sockaddr_storage *sa,
                                            struct sockaddr_storage *buf)
{
    const struct conf_service *cs = l->svc->cs;
    /* By the listener and the address: a PROXY header's client is IP, a
     * v2 LOCAL one is the unix peer itself. */
    if (l->addr.kind != ADDR_UNIX || sa->ss_family != AF_UNIX ||
        !(cs->max_per_source || cs->rate_limit.count))
        return sa;
    memset(buf, 0, sizeof *buf);
    return sources_peer_uid(fd, (struct sockaddr *)buf) == 0 ? buf : sa;
}

/* The rule of a per-source refusal names the uid it counted. */
static void rule_uid(const struct sockaddr *src, char *rule, size_t rulelen)
{
    unsigned uid;
    size_t n = strlen(rule);
    if (sources_is_uid(src, &uid) && n < rulelen)
        snprintf(rule + n, rulelen - n, " (uid %u)", uid);
}

int admit_stream(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen,
                 const struct sockaddr *src)
{
    struct serve *srv = l->srv;
    struct superd_service *svc = l->svc;
    const struct conf_service *cs = svc->cs;
    char rule[160];
    int flags = 0;
    if (!acl_allowed(cs->allow, cs->deny, sa, rule, sizeof rule) ||
        /* By the listener, not the peer's address: behind a PROXY header
         * the carried address is IP, but the credentials are the socket's. */
        (l->addr.kind == ADDR_UNIX && !creds_allowed(cs, fd, rule, sizeof rule))) {
        refuse(l, STREAM, sa, salen, STATS_REFUSED_ACL, rule);
        return -1;
    }
    if (!srv->stats)
        return 0;
    if (svc->stats_slot < 0) {
        if (!has_limits(cs, srv->conf, STREAM))
            return 0;
        refuse(l, STREAM, sa, salen, STATS_REFUSED_OTHER,
               "limits cannot be counted (no statistics slot)");
        return -1;
    }
    if (cs->max_per_source || cs->rate_limit.count) {
        enum src_verdict v = sources_admit(srv->sources, svc->stats_slot, srv->stats_row, src,
                                           cs, true);
        if (v != SRC_OK) {
            enum stats_refusal why = source_rule(cs, v, rule, sizeof rule);
            rule_uid(src, rule, sizeof rule);
            refuse(l, STREAM, sa, salen, why, rule);
            return -1;
        }
        if (cs->max_per_source && srv->sources)
            flags |= ADMIT_SOURCED;
    }
    if (!stats_conn_admit(srv->stats, srv->stats_row, svc->stats_slot, cs->max_connections,
                          srv->conf->max_connections)) {
        if (flags & ADMIT_SOURCED)
            sources_release(srv->sources, svc->stats_slot, srv->stats_row, src, cs);
        refuse(l, STREAM, sa, salen, STATS_REFUSED_MAX_CONN, "max_connections reached");
        return -1;
    }
    STATS_ADD(svc->row, accepted, 1);
    STATS_ADD(l->row, accepted, 1);
    STATS_ADD(l->row, active, 1);
    return flags | ADMIT_COUNTED;
}

bool admit_dgram(struct listener *l, const struct sockaddr *sa, socklen_t salen)
{
    struct serve *srv = l->srv;
    const struct conf_service *cs = l->svc->cs;
    char rule[160];
    if (!acl_allowed(cs->allow, cs->deny, sa, rule, sizeof rule)) {
        refuse(l, DGRAM, sa, salen, STATS_REFUSED_ACL, rule);
        return false;
    }
    if (!cs->rate_limit.count || !srv->sources)
        return true;
    if (l->svc->stats_slot < 0) {
        refuse(l, DGRAM, sa, salen, STATS_REFUSED_OTHER,
               "limits cannot be counted (no statistics slot)");
        return false;
    }
    enum src_verdict v = sources_admit(srv->sources, l->svc->stats_slot, srv->stats_row, sa, cs,
                                       false);
    if (v == SRC_OK)
        return true;
    enum stats_refusal why = source_rule(cs, v, rule, sizeof rule);
    refuse(l, DGRAM, sa, salen, why, rule);
    return false;
}

void admit_refused(struct listener *l, const struct sockaddr *sa, socklen_t salen,
                   enum stats_refusal why, const char *rule)
{
    refuse(l, STREAM, sa, salen, why, rule);
}

void admit_release(struct listener *l, int flags, const struct sockaddr *src)
{
    if (flags & ADMIT_COUNTED) {
        stats_conn_release(l->srv->stats, l->srv->stats_row, l->svc->stats_slot);
        STATS_ADD(l->row, active, -1);
    }
    if (flags & ADMIT_SOURCED)
        sources_release(l->srv->sources, l->svc->stats_slot, l->srv->stats_row, src, l->svc->cs);
}
