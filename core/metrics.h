/* metrics.h - the figures of a running superd for Prometheus: rendering
 * the shared statistics in the Prometheus text format (0.0.4) or
 * OpenMetrics 1.0, and the built-in service that answers `GET /metrics`
 * on the listeners of `metrics_listen`.
 *
 * The endpoint is served by the workers, like any service (access lists
 * and limits apply), from the statistics every process shares: the
 * master never parses a request, and a scrape never waits on a lock. */
#ifndef SUPERD_METRICS_H
#define SUPERD_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include <superd/plugin.h>

#include "stats.h"

/* The built-in service's callbacks, loaded by plugin_builtin("metrics"). */
extern const struct superd_plugin metrics_plugin;

/*
 * Render every figure of st: process figures, then per service.  With
 * `openmetrics`, in OpenMetrics 1.0 (ending in "# EOF"), else in the
 * Prometheus text format 0.0.4.  On success *out is a malloc'ed text of
 * *len bytes (the caller frees it) and 0 is returned; -ENOMEM otherwise.
 */
int metrics_render(const struct stats *st, bool openmetrics, char **out, size_t *len);

/* The Content-Type of each format. */
#define METRICS_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

#endif
