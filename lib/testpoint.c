/* shmring — the hook behind SHMRING__TEST_POINT (common.h). Compiled into every build, but empty
 * unless SHMRING_TEST_POINTS is defined (the //:shmring_testpoints target, used only by tests). */
#include "internal.h"

#ifdef SHMRING_TEST_POINTS
void (*volatile shmring__test_hook)(int id);
#else
typedef int shmring__no_test_points; /* ISO C wants a translation unit to declare something */
#endif
