/* The guide's example docs/examples/forwarder.c, built as a test plugin
 * for the integration tests (tests/integration_api11.c). */
#include "../../docs/examples/forwarder.c"
