/* tls_relay.h - a program behind TLS: the connection's callbacks that
 * start the program on a socketpair and relay plaintext both ways. */
#ifndef SUPERD_TLS_RELAY_H
#define SUPERD_TLS_RELAY_H

#include <superd/plugin.h>

/* The callbacks conn.c gives a connection of an exec service on a tls://
 * listener, in place of a plugin's. */
extern const struct superd_plugin tls_relay_plugin;

#endif
