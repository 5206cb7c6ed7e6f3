/* shmring — the inline fast path as exported functions, for foreign-function interfaces
 * (include/shmring/ffi.h). */
#include "shmring/ffi.h"

int shmring_ffi_spsc_push_wait(struct shmring_spsc *r, const void *src, size_t len, int64_t timeout_ns)
{
    return shmring_spsc_push_wait(r, src, len, timeout_ns);
}

ssize_t shmring_ffi_spsc_pop_wait(struct shmring_spsc *r, void *dst, size_t cap, int64_t timeout_ns)
{
    return shmring_spsc_pop_wait(r, dst, cap, timeout_ns);
}

int shmring_ffi_spsc_reserve_wait(struct shmring_spsc *r, size_t len, void **buf, int64_t timeout_ns)
{
    return shmring_spsc_reserve_wait(r, len, buf, timeout_ns);
}

unsigned shmring_ffi_spsc_commit(struct shmring_spsc *r)
{
    return shmring_spsc_commit(r);
}

int shmring_ffi_spsc_peek_wait(struct shmring_spsc *r, const void **buf, size_t *len, int64_t timeout_ns)
{
    return shmring_spsc_peek_wait(r, buf, len, timeout_ns);
}

unsigned shmring_ffi_spsc_release(struct shmring_spsc *r)
{
    return shmring_spsc_release(r);
}

uint64_t shmring_ffi_spsc_max_record(const struct shmring_spsc *r)
{
    return shmring_spsc_max_record(r);
}

int shmring_ffi_mpmc_push_wait(struct shmring_mpmc *q, const void *src, size_t len, int64_t timeout_ns)
{
    return shmring_mpmc_push_wait(q, src, len, timeout_ns);
}

ssize_t shmring_ffi_mpmc_pop_wait(struct shmring_mpmc *q, void *dst, size_t cap, int64_t timeout_ns)
{
    return shmring_mpmc_pop_wait(q, dst, cap, timeout_ns);
}

uint32_t shmring_ffi_mpmc_slot_size(const struct shmring_mpmc *q)
{
    return shmring_mpmc_slot_size(q);
}

int shmring_ffi_bcast_push_wait(struct shmring_bcast *b, const void *src, size_t len, int64_t timeout_ns)
{
    return shmring_bcast_push_wait(b, src, len, timeout_ns);
}

ssize_t shmring_ffi_bcast_pop_wait(struct shmring_bcast *b, void *dst, size_t cap, int64_t timeout_ns)
{
    return shmring_bcast_pop_wait(b, dst, cap, timeout_ns);
}

int shmring_ffi_bcast_peek_wait(struct shmring_bcast *b, const void **buf, size_t *len, int64_t timeout_ns)
{
    return shmring_bcast_peek_wait(b, buf, len, timeout_ns);
}

int shmring_ffi_bcast_validate(struct shmring_bcast *b)
{
    return shmring_bcast_validate(b);
}

unsigned shmring_ffi_bcast_release(struct shmring_bcast *b)
{
    return shmring_bcast_release(b);
}

uint32_t shmring_ffi_bcast_slot_size(const struct shmring_bcast *b)
{
    return shmring_bcast_slot_size(b);
}

uint64_t shmring_ffi_bcast_lost(const struct shmring_bcast *b)
{
    return shmring_bcast_lost(b);
}

int shmring_ffi_bcast_lossy(const struct shmring_bcast *b)
{
    return shmring_bcast_lossy(b);
}
