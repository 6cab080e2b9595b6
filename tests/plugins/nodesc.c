/* nodesc - a real shared object that exports no superd_plugin symbol. */
#include <superd/plugin.h>

SUPERD_EXPORT int nodesc_answer(void);

SUPERD_EXPORT int nodesc_answer(void)
{
    return 42;
}
