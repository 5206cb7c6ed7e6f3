// The public headers compile as C++ (-std=c++17 -Wall -Wextra -Werror -Wshadow) and work: a push/pop through an anonymous ring.
#include <shmring/shmring.h>

#include <cstdio>
#include <cstring>

int main()
{
    struct shmring_config cfg;
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    struct shmring_spsc *p = nullptr, *c = nullptr;
    int e = shmring_spsc_pipe(&cfg, &p, &c);
    if (e != 0) {
        std::fprintf(stderr, "shmring_spsc_pipe: %s\n", shmring_strerror(e));
        return 1;
    }
    const char msg[] = "hello from C++";
    int rc = 0;
    if ((e = shmring_spsc_push(p, msg, sizeof(msg))) != 0) {
        std::fprintf(stderr, "push: %s\n", shmring_err_name(e));
        rc = 1;
    }
    // In place too: reserve/commit, peek/release.
    void *w = nullptr;
    if (rc == 0 && (e = shmring_spsc_reserve(p, 8, &w)) == 0) {
        uint64_t v = 42;
        std::memcpy(w, &v, sizeof(v));
        if (shmring_spsc_commit(p) != 1)
            rc = 1;
    } else if (rc == 0) {
        rc = 1;
    }
    char out[64] = {0};
    ssize_t n = shmring_spsc_pop(c, out, sizeof(out));
    if (n != (ssize_t)sizeof(msg) || std::strcmp(out, msg) != 0) {
        std::fprintf(stderr, "pop: %zd '%s'\n", n, out);
        rc = 1;
    }
    const void *b = nullptr;
    size_t len = 0;
    if (shmring_spsc_peek(c, &b, &len) != 0 || len != 8 || *static_cast<const uint64_t *>(b) != 42 ||
        shmring_spsc_release(c) != 1) {
        std::fprintf(stderr, "peek/release failed\n");
        rc = 1;
    }
    if (shmring_spsc_pop_wait(c, out, sizeof(out), 0) != -EAGAIN)
        rc = 1;
    shmring_spsc_close(p);
    if (shmring_spsc_pop(c, out, sizeof(out)) != -EPIPE)
        rc = 1;
    shmring_spsc_close(c);
    std::printf("%s\n", rc == 0 ? "ok" : "FAILED");
    return rc;
}
