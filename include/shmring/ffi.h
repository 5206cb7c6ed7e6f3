/* shmring — out-of-line forms of the inline fast-path calls, for foreign-function interfaces
 * (Python's ctypes in python/shmring, and any language that can only call exported functions).
 * Each does exactly what the inline call of the same name without "ffi_" does (see spsc.h and
 * mpmc.h for the contracts), plus one function call. C and C++ code should use the inline calls.
 * The _wait forms take timeout_ns as the inline ones: SHMRING_FOREVER (< 0), 0 (check once), > 0. */
#ifndef SHMRING_FFI_H
#define SHMRING_FFI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmring/bcast.h"
#include "shmring/mpmc.h"
#include "shmring/spsc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SPSC. push/pop copy; reserve/commit and peek/release are zero copy. */
int shmring_ffi_spsc_push_wait(struct shmring_spsc *r, const void *src, size_t len, int64_t timeout_ns);
ssize_t shmring_ffi_spsc_pop_wait(struct shmring_spsc *r, void *dst, size_t cap, int64_t timeout_ns);
int shmring_ffi_spsc_reserve_wait(struct shmring_spsc *r, size_t len, void **buf, int64_t timeout_ns);
unsigned shmring_ffi_spsc_commit(struct shmring_spsc *r);
int shmring_ffi_spsc_peek_wait(struct shmring_spsc *r, const void **buf, size_t *len, int64_t timeout_ns);
unsigned shmring_ffi_spsc_release(struct shmring_spsc *r);
uint64_t shmring_ffi_spsc_max_record(const struct shmring_spsc *r);

/* MPMC: one record per call, copied. */
int shmring_ffi_mpmc_push_wait(struct shmring_mpmc *q, const void *src, size_t len, int64_t timeout_ns);
ssize_t shmring_ffi_mpmc_pop_wait(struct shmring_mpmc *q, void *dst, size_t cap, int64_t timeout_ns);
uint32_t shmring_ffi_mpmc_slot_size(const struct shmring_mpmc *q);

/* Broadcast: push/pop copy (pop validates its copy); peek/validate/release are zero copy. */
int shmring_ffi_bcast_push_wait(struct shmring_bcast *b, const void *src, size_t len, int64_t timeout_ns);
ssize_t shmring_ffi_bcast_pop_wait(struct shmring_bcast *b, void *dst, size_t cap, int64_t timeout_ns);
int shmring_ffi_bcast_peek_wait(struct shmring_bcast *b, const void **buf, size_t *len, int64_t timeout_ns);
int shmring_ffi_bcast_validate(struct shmring_bcast *b);
unsigned shmring_ffi_bcast_release(struct shmring_bcast *b);
uint32_t shmring_ffi_bcast_slot_size(const struct shmring_bcast *b);
uint64_t shmring_ffi_bcast_lost(const struct shmring_bcast *b);
int shmring_ffi_bcast_lossy(const struct shmring_bcast *b);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_FFI_H */
