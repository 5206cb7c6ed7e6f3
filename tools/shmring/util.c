/* The `shmring` command: argument parsing, messages, names, liveness, signals. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *cli_cmd_name = "shmring";

static void vmsg(const char *fmt, va_list ap)
{
    if (strcmp(cli_cmd_name, "shmring") == 0)
        fputs("shmring: ", stderr);
    else
        fprintf(stderr, "shmring %s: ", cli_cmd_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

int cli_usage_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    if (strcmp(cli_cmd_name, "shmring") == 0)
        fputs("Try 'shmring --help'.\n", stderr);
    else
        fprintf(stderr, "Try 'shmring %s --help'.\n", cli_cmd_name);
    return EXIT_USAGE;
}

int cli_bad_option(char **argv, int c)
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        return cli_usage_err("option '%s' needs a value", arg);
    if (optopt && optopt != '?')
        return cli_usage_err("unknown option '-%c'", optopt);
    return cli_usage_err("unknown option '%s'", arg);
}

int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    int shift = 0;
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && end[0] == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end != '\0')
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int parse_seconds(const char *s, double *out)
{
    char *end;
    double v;
    if (s == NULL || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

int parse_count(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v == 0)
        return -1;
    *out = v;
    return 0;
}

int parse_mode(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v;
    if (s == NULL || s[0] < '0' || s[0] > '7')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 8);
    if (errno || *end != '\0' || v > 0777)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

const char *human_size(uint64_t v, char *buf, size_t cap)
{
    static const char units[] = "KMGTPE";
    int u = -1;
    double d = (double)v;
    if (v < 1024) {
        snprintf(buf, cap, "%llu", (unsigned long long)v);
        return buf;
    }
    while (d >= 1024 && u < 5) {
        d /= 1024;
        u++;
    }
    if (d == (double)(uint64_t)d)
        snprintf(buf, cap, "%llu%c", (unsigned long long)d, units[u]);
    else if (d < 10)
        snprintf(buf, cap, "%.1f%c", d, units[u]);
    else
        snprintf(buf, cap, "%.0f%c", d, units[u]);
    return buf;
}

const char *name_for_text(const char *name, char *buf, size_t cap)
{
    size_t o = 0;
    const unsigned char *p;
    for (p = (const unsigned char *)name; *p && o + 5 < cap; p++) {
        if (*p > ' ' && *p < 0x7f && *p != '\\')
            buf[o++] = (char)*p;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", *p);
    }
    buf[o] = '\0';
    return buf;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len, i;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = p[0] & 0x1fu;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = p[0] & 0x0fu;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8. */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

void json_string(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    fputc('"', f);
    while (p < end) {
        size_t n;
        switch (*p) {
        case '"': fputs("\\\"", f); p++; continue;
        case '\\': fputs("\\\\", f); p++; continue;
        case '\n': fputs("\\n", f); p++; continue;
        case '\r': fputs("\\r", f); p++; continue;
        case '\t': fputs("\\t", f); p++; continue;
        default: break;
        }
        if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\u%04x", *p);
            p++;
            continue;
        }
        n = utf8_len(p, (size_t)(end - p));
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        fwrite(p, 1, n, f);
        p += n;
    }
    fputc('"', f);
}

/* Field 22 of /proc/PID/stat (start time in clock ticks after boot); 0 unknown; UINT64_MAX for a
 * zombie (dead, only not yet reaped). The command name (field 2) may hold spaces and ')'. */
static uint64_t proc_start(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long start;
    ssize_t n;
    int fd, field;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if ((p = strrchr(buf, ')')) == NULL)
        return 0;
    p++;
    if (p[0] == ' ' && (p[1] == 'Z' || p[1] == 'X'))
        return UINT64_MAX;
    for (field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p, " %llu", &start) != 1)
        return 0;
    return (uint64_t)start;
}

/* start_mask: the bits of the start time that the caller knows (all, or 31 for owner words). */
static int alive_masked(pid_t pid, uint64_t start, uint64_t start_mask)
{
    uint64_t now;
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    now = proc_start(pid);
    if (now == UINT64_MAX)
        return 0;
    return start == 0 || now == 0 || (now & start_mask) == (start & start_mask);
}

int proc_alive(pid_t pid, uint64_t start)
{
    return alive_masked(pid, start, UINT64_MAX);
}

int owner_alive(uint64_t owner)
{
    return alive_masked(SHMRING_OWNER_PID(owner), SHMRING_OWNER_START(owner), 0x7fffffffu);
}

int64_t now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

volatile sig_atomic_t cli_stop;

static void on_signal(int sig)
{
    if (!cli_stop)
        cli_stop = sig;
}

void signals_setup(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    size_t i;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocking read/write/poll returns EINTR */
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void signals_finish(void)
{
    int sig = cli_stop;
    if (!sig)
        return;
    fflush(NULL);
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig); /* not reached */
}

void getopt_reset(void)
{
    optind = 0;
    opterr = 0;
}

int cli_one_name(int argc, char **argv)
{
    if (optind >= argc)
        return cli_usage_err("missing ring name");
    if (optind + 1 < argc)
        return cli_usage_err("one ring name at a time (extra argument '%s')", argv[optind + 1]);
    return EXIT_OK;
}

void *cli_append(void *arr, int *n, int *cap, const void *elem, size_t size)
{
    char *a = (char *)arr;
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 16;
        if ((a = (char *)realloc(arr, (size_t)ncap * size)) == NULL)
            return NULL;
        *cap = ncap;
    }
    memcpy(a + (size_t)*n * size, elem, size);
    ++*n;
    return a;
}
