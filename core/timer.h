/* timer.h - the plugin API's timers (superd_timer_start/stop, API 1.1):
 * each one a loop timer owned by a service. */
#ifndef SUPERD_TIMER_H
#define SUPERD_TIMER_H

struct superd_service;

/* Stop every timer of the service (before its fini(): none runs after). */
void timer_stop_all(struct superd_service *svc);

#endif
