/* shmring — the atomics used on shared memory, for C11 and for C++ (users embed the headers).
 *
 * Not for direct inclusion. Every atomic that shmring places in shared memory is a 32- or 64-bit
 * integer that must be always lock-free: lock-free atomics are address-free, which is what lets
 * two processes that map the segment at different addresses operate on the same word.
 */
#ifndef SHMRING_ATOMIC_H
#define SHMRING_ATOMIC_H

#include <stdint.h>

#ifdef __cplusplus
#include <atomic>
#define SHMRING_ATOMIC(T) std::atomic<T>
#define shmring__load(p, mo) std::atomic_load_explicit((p), std::memory_order_##mo)
#define shmring__store(p, v, mo) std::atomic_store_explicit((p), (v), std::memory_order_##mo)
#define shmring__xchg(p, v, mo) std::atomic_exchange_explicit((p), (v), std::memory_order_##mo)
#define shmring__fetch_add(p, v, mo) std::atomic_fetch_add_explicit((p), (v), std::memory_order_##mo)
#define shmring__fetch_or(p, v, mo) std::atomic_fetch_or_explicit((p), (v), std::memory_order_##mo)
#define shmring__fetch_sub(p, v, mo) std::atomic_fetch_sub_explicit((p), (v), std::memory_order_##mo)
#define shmring__cas(p, expp, v, mo_ok, mo_fail) \
    std::atomic_compare_exchange_strong_explicit((p), (expp), (v), std::memory_order_##mo_ok, std::memory_order_##mo_fail)
#define shmring__thread_fence(mo) std::atomic_thread_fence(std::memory_order_##mo)
#define shmring__signal_fence(mo) std::atomic_signal_fence(std::memory_order_##mo)
/* A 64-bit atomic word inside the data area (record headers). */
#define SHMRING__U64_AT(ptr) (reinterpret_cast<std::atomic<uint64_t> *>(ptr))
#define SHMRING__STATIC_ASSERT(c, m) static_assert(c, m)
#else
#include <stdatomic.h>
#define SHMRING_ATOMIC(T) _Atomic T
#define shmring__load(p, mo) atomic_load_explicit((p), memory_order_##mo)
#define shmring__store(p, v, mo) atomic_store_explicit((p), (v), memory_order_##mo)
#define shmring__xchg(p, v, mo) atomic_exchange_explicit((p), (v), memory_order_##mo)
#define shmring__fetch_add(p, v, mo) atomic_fetch_add_explicit((p), (v), memory_order_##mo)
#define shmring__fetch_or(p, v, mo) atomic_fetch_or_explicit((p), (v), memory_order_##mo)
#define shmring__fetch_sub(p, v, mo) atomic_fetch_sub_explicit((p), (v), memory_order_##mo)
#define shmring__cas(p, expp, v, mo_ok, mo_fail) \
    atomic_compare_exchange_strong_explicit((p), (expp), (v), memory_order_##mo_ok, memory_order_##mo_fail)
#define shmring__thread_fence(mo) atomic_thread_fence(memory_order_##mo)
#define shmring__signal_fence(mo) atomic_signal_fence(memory_order_##mo)
#define SHMRING__U64_AT(ptr) ((_Atomic uint64_t *)(void *)(ptr))
#define SHMRING__STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* Lock-free, hence address-free: required for cross-process use. */
#if !defined(__GCC_ATOMIC_INT_LOCK_FREE) || __GCC_ATOMIC_INT_LOCK_FREE != 2 || \
    !defined(__GCC_ATOMIC_LLONG_LOCK_FREE) || __GCC_ATOMIC_LLONG_LOCK_FREE != 2
#error "shmring needs always-lock-free 32- and 64-bit atomics"
#endif

/* For the few fast-path helpers that compilers would otherwise emit out of line. */
#if defined(__GNUC__)
#define SHMRING__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SHMRING__ALWAYS_INLINE inline
#endif

/* Tells the CPU we are spinning (saves power, frees the sibling hyperthread). */
static inline void shmring__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    shmring__signal_fence(seq_cst);
#endif
}

#endif /* SHMRING_ATOMIC_H */
