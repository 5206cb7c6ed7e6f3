/* shmring — lock-free rings in System V shared memory. Include this one header. */
#ifndef SHMRING_SHMRING_H
#define SHMRING_SHMRING_H

#include "shmring/bcast.h"
#include "shmring/common.h"
#include "shmring/control.h"
#include "shmring/ffi.h"
#include "shmring/mpmc.h"
#include "shmring/spsc.h"

#endif /* SHMRING_SHMRING_H */
