/* The `shmring` command: declarations shared by its source files.
 *
 * Exit statuses (every subcommand): 0 success, 1 operational error (no such ring, the ring is not
 * ours, a system call failed, end of a wait with --timeout), 2 usage error (bad option, missing or
 * malformed argument). Messages go to stderr, prefixed "shmring SUBCOMMAND: ", and name the ring
 * and the cause.
 */
#ifndef SHMRING_TOOL_CLI_H
#define SHMRING_TOOL_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

#include "shmring/common.h" /* before layout.h, which uses SHMRING_NAME_MAX */
#include "shmring/layout.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* A subcommand: run() gets argv[0] == its name. The table is in main.c; add a row to add one. */
struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for `shmring --help` */
};

int cmd_create(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_put(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_bridge(int argc, char **argv);

/* --- util.c ---------------------------------------------------------------------------------- */

/* The subcommand being run, for messages ("create", ...). */
extern const char *cli_cmd_name;

/* "shmring CMD: <message>\n" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As cli_err, then "Try 'shmring CMD --help'."; returns EXIT_USAGE. */
int cli_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Resets getopt for a subcommand's argv (glibc: optind 0 re-initialises; options may follow the
 * positional arguments, "create r --capacity 1M") and silences getopt's own messages. */
void getopt_reset(void);
/* After getopt: exactly one ring name left at argv[optind]? EXIT_OK, or a usage error (printed). */
int cli_one_name(int argc, char **argv);
/* An unknown option or a missing option argument found by getopt (optopt, argv[optind - 1]). */
int cli_bad_option(char **argv, int c);

/* "4096", "64K", "1M", "2G" (binary multiples; an optional trailing "B"/"iB"). 0 or -1. */
int parse_size(const char *s, uint64_t *out);
/* A non-negative decimal number of seconds ("0.5"). 0 or -1. */
int parse_seconds(const char *s, double *out);
/* A positive count. 0 or -1. */
int parse_count(const char *s, uint64_t *out);
/* Permission bits in octal, at most 0777. 0 or -1. */
int parse_mode(const char *s, uint32_t *out);

/* 1536 -> "1.5K", 1048576 -> "1M" (binary, at most 4 significant characters). */
const char *human_size(uint64_t v, char *buf, size_t cap);

/* A ring name for text output: bytes outside printable ASCII, spaces and backslashes as \xNN. */
const char *name_for_text(const char *name, char *buf, size_t cap);
/* A JSON string literal (with quotes) for bytes; invalid UTF-8 becomes U+FFFD. */
void json_string(FILE *f, const char *s, size_t len);

/* Process liveness from outside: 1 alive, 0 dead (or a zombie), as the library judges it: a pid
 * and the start time (clock ticks after boot) tell a reused pid apart; start 0 = pid only. */
int proc_alive(pid_t pid, uint64_t start);
/* The same for an owner word (layout.h: pid and 31 bits of the start time). */
int owner_alive(uint64_t owner);

/* Monotonic and wall clocks, in ns. */
int64_t now_mono_ns(void);

/* SIGINT, SIGTERM, SIGHUP and SIGPIPE: the first three set cli_stop (no SA_RESTART, so blocking
 * calls return EINTR); SIGPIPE is ignored (write errors are handled). */
extern volatile sig_atomic_t cli_stop;
void signals_setup(void);
/* After cleanup: if a signal stopped us, die of it (the shell sees what happened); else return. */
void signals_finish(void);

/* --- view.c: read-only introspection of segments --------------------------------------------- */

/* One line of /proc/sysvipc/shm (the kernel's view; trusted). */
struct shm_entry {
    int32_t key;       /* as the kernel prints it; 0 for IPC_PRIVATE and removed segments */
    int shmid;
    unsigned perms;    /* mode bits, with SHM_DEST (01000) once removed */
    uint64_t size;     /* bytes */
    pid_t cpid, lpid;
    uint64_t nattch;
    uid_t uid;
    uid_t cuid;        /* the creator's (fixed for the segment's life, unlike uid) */
};

/* Appends the `size`-byte *elem to the array arr of *n entries (room for *cap), growing it by
 * doubling. Returns the array (perhaps moved), or NULL when out of memory (arr is left as it was,
 * still to be freed). */
void *cli_append(void *arr, int *n, int *cap, const void *elem, size_t size);

/* rm --stale: removes the semaphore sets and queues that killed anonymous rings left behind
 * (orphans.c). Prints what it removes (dry_run: what it would). EXIT_OK or EXIT_FAIL. */
int rm_anon_leftovers(int dry_run);

/* Reads /proc/sysvipc/shm. Returns the number of entries (array in *out, free() it) or -errno. */
int shm_list(struct shm_entry **out);
/* The entry of the segment on `key`: 0, -ENOENT, or -errno. */
int shm_by_key(int32_t key, struct shm_entry *e);
/* Refreshes e from the kernel (IPC_STAT on e->shmid): 0 or -errno (-EIDRM/-EINVAL: gone). */
int shm_refresh(struct shm_entry *e);

enum view_what {
    VIEW_RING = 1,   /* a shmring of our ABI (look at state for ok/corrupt/removed) */
    VIEW_CREATING,   /* a ring being created (magic not yet published; creator alive) */
    VIEW_HALF_MADE,  /* a ring whose creator died before publishing it */
    VIEW_FOREIGN,    /* not a shmring */
    VIEW_OTHER_ABI,  /* a shmring of another ABI version */
    VIEW_NO_ACCESS,  /* we may not attach it (permissions) */
    VIEW_GONE,       /* vanished while we looked */
};

/* What one segment is, read with a read-only attachment: the tool never writes to a segment it did
 * not create. Everything below comes from the header (untrusted) and was checked before being put
 * here; `problem` says what did not check out (then the state is corrupt). */
struct ring_view {
    struct shm_entry seg;
    int what;                         /* enum view_what */
    const struct shmring_header *hdr; /* the read-only mapping (NULL unless RING/CREATING/HALF_MADE) */
    struct shmring_ident id;          /* copy of the identity, taken after the magic's acquire load */
    char name[SHMRING_NAME_MAX + 1];  /* NUL-terminated copy of the header's name */
    int anon;                         /* anonymous ring (shmring_spsc_pipe) */
    int corrupt;                      /* marked corrupt, or found inconsistent here */
    int removed;                      /* shmring_unlink() ran (or the segment is marked SHM_DEST) */
    char problem[160];                /* why corrupt, for stat */
    /* Semaphore set: valid only if sem_ok (it exists, carries the ring's key, 5 semaphores). */
    int sem_ok;
    int sem_err;                      /* -errno when !sem_ok */
    int semval[SHMRING_NSEMS];
    /* Message queue: valid only if msq_ok. */
    int msq_ok;
    int msq_err;
    uint64_t msg_qnum, msg_cbytes, msg_qbytes;
};

/* Attaches e's segment read-only and classifies it. The view holds the mapping until view_close. */
void view_open(const struct shm_entry *e, struct ring_view *v);
void view_close(struct ring_view *v);
/* Re-reads the semaphores and queue (for watch). */
void view_refresh_ipc(struct ring_view *v);
/* "ok", "corrupt", "removed", "creating", "half-made", "not a shmring", "other ABI version",
 * "no access", "gone". */
const char *view_state(const struct ring_view *v);
const char *kind_name(uint32_t kind);

/* Fill, checked against the geometry: SPSC bytes, MPMC slots. Sets *fill and returns 1 when the
 * positions are consistent (a small negative difference, a consumer that released just past the
 * producer's last mirror store, counts as 0); returns 0 when they are not (*fill = 0). */
int view_fill(const struct ring_view *v, uint64_t *fill);

/* BCAST: the consumer table and the ring's ctl line in the read-only mapping, or NULL if v is not a
 * sound BCAST ring (checked geometry). */
const struct shmring_bcast_consumer *view_bcast_table(const struct ring_view *v);
const struct shmring_bcast_ctl *view_bcast_ctl(const struct ring_view *v);

/* Looks up a ring by name for stat/watch: fills v (attached) and returns EXIT_OK, or prints the
 * message (no such ring, not ours, ...) and returns EXIT_FAIL / EXIT_USAGE (bad name). */
int view_by_name(const char *name, struct ring_view *v);

#endif
