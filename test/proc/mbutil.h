/* Shared by membarrier_test.c and membarrier_child.c: the seccomp filter that takes membarrier(2)
 * away from a process, and a ping-pong over two rings (SPSC or MPMC) with checked records. */
#ifndef SHMRING_TEST_PROC_MBUTIL_H
#define SHMRING_TEST_PROC_MBUTIL_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "testutil.h"

#define MB_SKIP 77       /* exit status of a child that could not install the filter */
#define MB_REC 64u       /* bytes per ping-pong record */
#define MB_WAIT_NS 5000000000LL /* longest wait for one record */

/* Makes every later membarrier() of this process, and of what it execs, fail with ENOSYS (as a
 * container's seccomp profile or an old kernel would). No privilege needed (PR_SET_NO_NEW_PRIVS).
 * 0 or -errno. */
static inline int mb_no_membarrier(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* another ABI: not ours to judge */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return -errno;
    /* The filter works: the call that the library depends on now fails. */
    if (syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0) != -1 || errno != ENOSYS)
        return -EPROTO;
    return 0;
}

/* One process's ends of a ping-pong: it produces `out` and consumes `in`, spin 0 (every wait
 * sleeps). */
struct mb_ends {
    struct shmring_spsc *sp_out, *sp_in;
    struct shmring_mpmc *mp_out, *mp_in;
};

static inline void mb_close(struct mb_ends *e)
{
    if (e->sp_out)
        shmring_spsc_close(e->sp_out);
    if (e->sp_in)
        shmring_spsc_close(e->sp_in);
    if (e->mp_out)
        shmring_mpmc_close(e->mp_out);
    if (e->mp_in)
        shmring_mpmc_close(e->mp_in);
    memset(e, 0, sizeof(*e));
}

static inline int mb_open(int mpmc, const char *out, const char *in, struct mb_ends *e)
{
    int err;
    memset(e, 0, sizeof(*e));
    if (mpmc) {
        if ((err = shmring_mpmc_open(out, SHMRING_PRODUCER, &e->mp_out)) != 0 ||
            (err = shmring_mpmc_open(in, SHMRING_CONSUMER, &e->mp_in)) != 0) {
            mb_close(e);
            return err;
        }
        shmring_mpmc_set_spin(e->mp_out, 0);
        shmring_mpmc_set_spin(e->mp_in, 0);
    } else {
        if ((err = shmring_spsc_open(out, SHMRING_PRODUCER, &e->sp_out)) != 0 ||
            (err = shmring_spsc_open(in, SHMRING_CONSUMER, &e->sp_in)) != 0) {
            mb_close(e);
            return err;
        }
        shmring_spsc_set_spin(e->sp_out, 0);
        shmring_spsc_set_spin(e->sp_in, 0);
    }
    return 0;
}

static inline int mb_send(struct mb_ends *e, uint64_t seq)
{
    uint8_t buf[MB_REC];
    testutil_fill(buf, sizeof(buf), seq);
    return e->sp_out ? shmring_spsc_push_wait(e->sp_out, buf, sizeof(buf), MB_WAIT_NS)
                     : shmring_mpmc_push_wait(e->mp_out, buf, sizeof(buf), MB_WAIT_NS);
}

/* 0, a shmring error, or -EBADMSG for a record that is not record seq. */
static inline int mb_recv(struct mb_ends *e, uint64_t seq)
{
    uint8_t buf[MB_REC];
    ssize_t n = e->sp_in ? shmring_spsc_pop_wait(e->sp_in, buf, sizeof(buf), MB_WAIT_NS)
                         : shmring_mpmc_pop_wait(e->mp_in, buf, sizeof(buf), MB_WAIT_NS);
    if (n < 0)
        return (int)n;
    return n == MB_REC && testutil_check_fill(buf, MB_REC, seq) ? 0 : -EBADMSG;
}

#endif
