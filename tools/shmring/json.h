/* A minimal JSON writer for the tool's --json output: commas and nesting kept track of here. */
#ifndef SHMRING_TOOL_JSON_H
#define SHMRING_TOOL_JSON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct jw {
    FILE *f;
    int depth;
    unsigned char comma[16]; /* a value was written at this depth: the next needs a comma */
    int after_key;           /* the next value follows a key: no comma */
};

static inline void jw_pre(struct jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->comma[w->depth])
        fputs(w->depth == 1 ? ",\n" : ",", w->f); /* top-level members one per line */
    w->comma[w->depth] = 1;
}

/* A key inside an object; the value follows. */
static inline void jw_key(struct jw *w, const char *k)
{
    jw_pre(w);
    json_string(w->f, k, strlen(k));
    fputc(':', w->f);
    w->after_key = 1;
}

static inline void jw_open(struct jw *w, char c)
{
    jw_pre(w);
    fputc(c, w->f);
    if (w->depth < 15)
        w->depth++;
    w->comma[w->depth] = 0;
}

static inline void jw_close(struct jw *w, char c)
{
    fputc(c, w->f);
    if (w->depth > 0)
        w->depth--;
}

static inline void jw_str(struct jw *w, const char *s)
{
    jw_pre(w);
    json_string(w->f, s, strlen(s));
}

static inline void jw_u64(struct jw *w, uint64_t v)
{
    jw_pre(w);
    fprintf(w->f, "%llu", (unsigned long long)v);
}

static inline void jw_i64(struct jw *w, int64_t v)
{
    jw_pre(w);
    fprintf(w->f, "%lld", (long long)v);
}

static inline void jw_dbl(struct jw *w, double v)
{
    jw_pre(w);
    fprintf(w->f, "%.3f", v);
}

static inline void jw_null(struct jw *w)
{
    jw_pre(w);
    fputs("null", w->f);
}

static inline void jw_bool(struct jw *w, int b)
{
    jw_pre(w);
    fputs(b ? "true" : "false", w->f);
}

#endif
