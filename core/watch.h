/* watch.h - the plugin API's descriptor watches (superd_watch, API 1.1):
 * each one a loop watch owned by a service. */
#ifndef SUPERD_WATCH_H
#define SUPERD_WATCH_H

struct superd_service;

/* Release every watch of the service (before its fini(): none runs
 * after).  The plugin's descriptors stay open. */
void watch_release_all(struct superd_service *svc);

#endif
