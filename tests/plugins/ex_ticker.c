/* The guide's example docs/examples/ticker.c, built as a test plugin
 * for the integration tests (tests/integration_api11.c). */
#include "../../docs/examples/ticker.c"
