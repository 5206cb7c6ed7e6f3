/* The `shmring` command: create, rm, ls, stat, watch. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "shmring/shmring.h"

#define SHOWN_MAX (4 * SHMRING_NAME_MAX + 8) /* a name with every byte as \xNN */

/* ------------------------------------------------------------------------------------------- */
/* create */

static const char create_help[] =
    "Usage: shmring create NAME --capacity N [--kind spsc|mpmc|bcast] [--slot-size S] [--lossy]\n"
    "                      [--align 8|64] [--mode MODE] [--huge] [--wake fenced|membarrier]\n"
    "\n"
    "Creates the ring NAME (a shared-memory segment, a semaphore set and a message queue on the\n"
    "name's System V key) and exits. The ring stays until 'shmring rm NAME'.\n"
    "\n"
    "  -c, --capacity N    SPSC: bytes of the data area, a power of two from 256 to 1T;\n"
    "                      MPMC, BCAST: number of slots, a power of two from 4 to 1G\n"
    "  -k, --kind KIND     spsc (default: one producer, one consumer, records of any length up to\n"
    "                      capacity - 16), mpmc (many producers and consumers, fixed-size slots)\n"
    "                      or bcast (one producer, many consumers that each see every record)\n"
    "  -s, --slot-size S   MPMC, BCAST: payload bytes per slot, 8 to 1M (default 64)\n"
    "      --lossy         BCAST: the producer never waits for slow consumers; a consumer it laps\n"
    "                      loses records (default: the producer waits for the slowest consumer)\n"
    "      --align N       SPSC: records start on N-byte boundaries, 8 (default) or 64 (each record\n"
    "                      on cache lines of its own: faster per-record streams, more space)\n"
    "  -m, --mode MODE     permission bits in octal (default 0600; the creator keeps rw)\n"
    "      --huge          back the segment with huge pages (needs vm.nr_hugepages)\n"
    "      --wake PROTOCOL fenced (a fence per publish; any process can use the ring) or membarrier\n"
    "                      (publishers need no fence; every process that opens the ring must be\n"
    "                      able to use membarrier(2)); default: the library's (docs/wakeup.md)\n"
    "  -h, --help          this help\n"
    "\n"
    "Sizes take K, M, G, T suffixes (powers of 1024). Example:\n"
    "  shmring create telemetry --capacity 4M --mode 0640\n";

int cmd_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"capacity", required_argument, NULL, 'c'}, {"kind", required_argument, NULL, 'k'},
        {"slot-size", required_argument, NULL, 's'}, {"mode", required_argument, NULL, 'm'},
        {"huge", no_argument, NULL, 'H'},           {"help", no_argument, NULL, 'h'},
        {"wake", required_argument, NULL, 'W'},     {"lossy", no_argument, NULL, 'L'},
        {"align", required_argument, NULL, 'A'},    {NULL, 0, NULL, 0},
    };
    struct shmring_config cfg;
    char shown[SHOWN_MAX];
    const char *name;
    uint64_t capacity = 0, slot = 0;
    uint32_t mode = SHMRING_DEFAULT_MODE;
    int kind = SHMRING_KIND_SPSC, huge = 0, lossy = 0, have_cap = 0, have_slot = 0, c, err;
    uint32_t wake = 0, align = 0;
    int64_t key;

    getopt_reset();
    while ((c = getopt_long(argc, argv, ":c:k:s:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (parse_size(optarg, &capacity) != 0)
                return cli_usage_err("bad capacity '%s' (a number, optionally with K, M, G or T)", optarg);
            have_cap = 1;
            break;
        case 'k':
            if (strcmp(optarg, "spsc") == 0)
                kind = SHMRING_KIND_SPSC;
            else if (strcmp(optarg, "mpmc") == 0)
                kind = SHMRING_KIND_MPMC;
            else if (strcmp(optarg, "bcast") == 0)
                kind = SHMRING_KIND_BCAST;
            else
                return cli_usage_err("bad kind '%s' (spsc, mpmc or bcast)", optarg);
            break;
        case 's':
            if (parse_size(optarg, &slot) != 0)
                return cli_usage_err("bad slot size '%s'", optarg);
            have_slot = 1;
            break;
        case 'm':
            if (parse_mode(optarg, &mode) != 0)
                return cli_usage_err("bad mode '%s' (octal permission bits, at most 0777)", optarg);
            break;
        case 'H':
            huge = 1;
            break;
        case 'L':
            lossy = 1;
            break;
        case 'A':
            if (strcmp(optarg, "8") == 0)
                align = 8;
            else if (strcmp(optarg, "64") == 0)
                align = 64;
            else
                return cli_usage_err("bad alignment '%s' (8 or 64)", optarg);
            break;
        case 'W':
            if (strcmp(optarg, "fenced") == 0)
                wake = SHMRING_F_WAKE_FENCED;
            else if (strcmp(optarg, "membarrier") == 0)
                wake = SHMRING_F_WAKE_MEMBARRIER;
            else
                return cli_usage_err("bad wake-up protocol '%s' (fenced or membarrier)", optarg);
            break;
        case 'h':
            fputs(create_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if (cli_one_name(argc, argv) != EXIT_OK)
        return EXIT_USAGE;
    name = argv[optind];
    name_for_text(name, shown, sizeof(shown));
    if ((key = shmring_name_key(name)) < 0)
        return cli_usage_err("invalid ring name '%s': %s", shown, shmring_strerror((int)key));
    if (!have_cap)
        return cli_usage_err("missing --capacity");
    shmring_config_init(&cfg);
    cfg.capacity = capacity;
    cfg.mode = mode;
    if (huge)
        cfg.flags |= SHMRING_F_HUGEPAGES;
    cfg.flags |= wake;
    if (lossy && kind != SHMRING_KIND_BCAST)
        return cli_usage_err("--lossy is for broadcast rings (--kind bcast)");
    if (lossy)
        cfg.flags |= SHMRING_F_LOSSY;
    if (align && kind != SHMRING_KIND_SPSC)
        return cli_usage_err("--align is for SPSC rings (MPMC and BCAST slots have a fixed size)");
    if (align == 64)
        cfg.flags |= SHMRING_F_ALIGN64;
    if (kind == SHMRING_KIND_SPSC) {
        if (have_slot)
            return cli_usage_err("--slot-size is for MPMC and BCAST rings (--kind mpmc, --kind bcast)");
        if (capacity < SHMRING_SPSC_CAPACITY_MIN || capacity > SHMRING_SPSC_CAPACITY_MAX || (capacity & (capacity - 1)))
            return cli_usage_err("bad capacity %llu: an SPSC ring holds a power of two of bytes, 256 to 1T",
                                 (unsigned long long)capacity);
        err = shmring_spsc_create(name, &cfg);
    } else if (kind == SHMRING_KIND_BCAST) {
        if (capacity < SHMRING_BCAST_SLOTS_MIN || capacity > SHMRING_BCAST_SLOTS_MAX || (capacity & (capacity - 1)))
            return cli_usage_err("bad capacity %llu: a BCAST ring has a power of two of slots, 4 to 1G",
                                 (unsigned long long)capacity);
        cfg.slot_size = 64;
        if (have_slot) {
            if (slot < SHMRING_BCAST_SLOT_MIN || slot > SHMRING_BCAST_SLOT_MAX)
                return cli_usage_err("bad slot size %llu: 8 to 1M bytes", (unsigned long long)slot);
            cfg.slot_size = (uint32_t)slot;
        }
        err = shmring_bcast_create(name, &cfg);
    } else {
        if (capacity < SHMRING_MPMC_SLOTS_MIN || capacity > SHMRING_MPMC_SLOTS_MAX || (capacity & (capacity - 1)))
            return cli_usage_err("bad capacity %llu: an MPMC ring has a power of two of slots, 4 to 1G",
                                 (unsigned long long)capacity);
        if (have_slot) {
            if (slot < SHMRING_MPMC_SLOT_MIN || slot > SHMRING_MPMC_SLOT_MAX)
                return cli_usage_err("bad slot size %llu: 8 to 1M bytes", (unsigned long long)slot);
            cfg.slot_size = (uint32_t)slot;
        }
        err = shmring_mpmc_create(name, &cfg);
    }
    if (err == -EEXIST) {
        cli_err("%s: already exists: a ring or another System V object holds key 0x%08x", shown, (unsigned)key);
        return EXIT_FAIL;
    }
    if (err) {
        cli_err("%s: cannot create: %s", shown, shmring_strerror(err));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* rm */

static const char rm_help[] =
    "Usage: shmring rm NAME...\n"
    "       shmring rm --stale [--dry-run]\n"
    "\n"
    "Removes the named rings: segment, semaphore set and message queue. Processes still attached keep\n"
    "a valid mapping until they detach; their waits end with 'ring was removed'. A segment on a\n"
    "name's key that is not a shmring is never touched (exit status 1).\n"
    "\n"
    "      --stale         remove every ring whose creator and users are all dead: no process has\n"
    "                      the segment attached, the presence semaphores count no producer and no\n"
    "                      consumer, and the creating process (pid and start time) is gone; also\n"
    "                      rings whose creator died half-way through creating them. A ring made with\n"
    "                      'shmring create' and not in use counts as stale. Also the semaphore set\n"
    "                      and queue that an anonymous ring (shmring_spsc_pipe) leaves when every\n"
    "                      holder was killed: no segment names them and no handle holds them.\n"
    "                      Prints what it removes.\n"
    "  -n, --dry-run       with --stale: print what would be removed, remove nothing\n"
    "  -h, --help          this help\n"
    "\n"
    "Examples:\n"
    "  shmring rm telemetry jobs\n"
    "  shmring rm --stale --dry-run\n";

static int rm_one(const char *name)
{
    char shown[SHOWN_MAX];
    int64_t key = shmring_name_key(name);
    int err;
    name_for_text(name, shown, sizeof(shown));
    if (key < 0) {
        cli_err("invalid ring name '%s': %s", shown, shmring_strerror((int)key));
        return EXIT_USAGE;
    }
    err = shmring_unlink(name);
    switch (err) {
    case 0:
        return EXIT_OK;
    case -ENOENT:
        cli_err("%s: no such ring", shown);
        break;
    case -EBADMSG:
        cli_err("%s: not a shmring: the segment on key 0x%08x has another format; left untouched", shown,
                (unsigned)key);
        break;
    case -EBUSY:
        cli_err("%s: still being created by a live process; not removed", shown);
        break;
    default:
        cli_err("%s: cannot remove: %s", shown, shmring_strerror(err));
        break;
    }
    return EXIT_FAIL;
}

/* Is the ring in v stale (creator and all users dead)? v is closed (detached) here, so that our
 * own read-only attachment does not count. Returns 1 and sets name/why if so. */
static int stale_check(struct ring_view *v, char *name, char *why, size_t whycap)
{
    pid_t creator;
    uint64_t start;
    int half = v->what == VIEW_HALF_MADE;
    if (v->what != VIEW_RING && !half) {
        view_close(v);
        return 0;
    }
    if (v->anon || v->name[0] == '\0' || shmring_name_key(v->name) < 0 ||
        (uint32_t)shmring_name_key(v->name) != (uint32_t)v->seg.key) {
        /* Not removable by name: anonymous rings, rings already removed (key 0), a half-made
         * ring whose creator died before writing its name (the next create of that name reaps
         * it), a header whose name does not match the key. */
        view_close(v);
        return 0;
    }
    memcpy(name, v->name, SHMRING_NAME_MAX + 1);
    creator = half ? v->seg.cpid : v->id.creator_pid;
    start = half ? 0 : v->id.creator_start;
    view_close(v);
    if (shm_refresh(&v->seg) != 0 || v->seg.nattch != 0)
        return 0;
    if (!half) {
        view_refresh_ipc(v);
        if (v->sem_ok && (v->semval[SHMRING_SEM_PRODUCERS] || v->semval[SHMRING_SEM_CONSUMERS] ||
                          v->semval[SHMRING_SEM_USERS]))
            return 0;
        if (!v->sem_ok && v->sem_err != -ENOENT)
            return 0; /* cannot tell (permissions): leave it */
    }
    if (proc_alive(creator, start))
        return 0;
    snprintf(why, whycap, "%s, creator pid %d gone, nothing attached", half ? "half-made" : kind_name(v->id.kind),
             (int)creator);
    return 1;
}

static int rm_stale(int dry_run)
{
    struct shm_entry *segs;
    int n = shm_list(&segs), i, rc = EXIT_OK;
    if (n < 0) {
        cli_err("cannot read /proc/sysvipc/shm: %s", shmring_strerror(n));
        return EXIT_FAIL;
    }
    for (i = 0; i < n; i++) {
        struct ring_view v;
        char name[SHMRING_NAME_MAX + 1], why[128], shown[SHOWN_MAX];
        int err;
        view_open(&segs[i], &v);
        if (!stale_check(&v, name, why, sizeof(why)))
            continue;
        name_for_text(name, shown, sizeof(shown));
        if (dry_run) {
            printf("would remove %s (key 0x%08x, shmid %d: %s)\n", shown, (unsigned)v.seg.key, v.seg.shmid, why);
            continue;
        }
        /* A process may attach between the checks and this call: it keeps a valid mapping and
         * its waits end with -EIDRM, as with any rm. */
        if ((err = shmring_unlink(name)) != 0 && err != -ENOENT) {
            cli_err("%s: cannot remove: %s", shown, shmring_strerror(err));
            rc = EXIT_FAIL;
            continue;
        }
        printf("removed %s (key 0x%08x, shmid %d: %s)\n", shown, (unsigned)v.seg.key, v.seg.shmid, why);
    }
    free(segs);
    i = rm_anon_leftovers(dry_run);
    return i > rc ? i : rc;
}

int cmd_rm(int argc, char **argv)
{
    static const struct option opts[] = {
        {"stale", no_argument, NULL, 'S'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int stale = 0, dry = 0, c, i, rc = EXIT_OK;
    getopt_reset();
    while ((c = getopt_long(argc, argv, ":nh", opts, NULL)) != -1) {
        switch (c) {
        case 'S':
            stale = 1;
            break;
        case 'n':
            dry = 1;
            break;
        case 'h':
            fputs(rm_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if (stale) {
        if (optind < argc)
            return cli_usage_err("--stale takes no ring names (extra argument '%s')", argv[optind]);
        return rm_stale(dry);
    }
    if (dry)
        return cli_usage_err("--dry-run goes with --stale");
    if (optind >= argc)
        return cli_usage_err("missing ring name (or --stale)");
    for (i = optind; i < argc; i++) {
        int r = rm_one(argv[i]);
        if (r > rc)
            rc = r;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* ls */

static const char ls_help[] =
    "Usage: shmring ls [--json] [--all]\n"
    "\n"
    "Lists every ring in this IPC namespace, found from /proc/sysvipc/shm and each segment's header\n"
    "(read through a read-only attachment; the tool never writes to a segment it lists).\n"
    "\n"
    "Columns:\n"
    "  NAME      the ring's name ((anonymous) for shmring_spsc_pipe rings; odd bytes as \\xNN)\n"
    "  KIND      spsc, mpmc or bcast\n"
    "  KEY       System V key (as ipcs shows it), SHMID the segment's id\n"
    "  CAPACITY  SPSC: bytes of the data area; MPMC, BCAST: number of slots\n"
    "  SLOT      MPMC, BCAST: payload bytes per slot\n"
    "  FILL      SPSC: bytes committed and not yet released (record headers included);\n"
    "            MPMC: slots claimed by producers and not yet taken; BCAST: records published\n"
    "            and not yet released by the slowest active consumer ('-' with no consumer);\n"
    "            USE% of the capacity\n"
    "  PROD CONS attached producers and consumers (presence semaphores)\n"
    "  SLEEP     producers/consumers asleep on the ring's semaphores\n"
    "  STATE     ok, corrupt (broken invariants: the ring refuses service), removed (rm ran,\n"
    "            processes still attached), creating, half-made (creator died while creating)\n"
    "\n"
    "      --all           also list segments that are not rings: 'not a shmring', 'other ABI\n"
    "                      version' (a shmring of another version), 'no access' (permissions)\n"
    "      --json          one JSON array of objects, one per segment (see README)\n"
    "  -h, --help          this help\n"
    "\n"
    "A '-' means unknown (no permission to read the semaphores, or positions that do not make\n"
    "sense: the header is not trusted).\n"
    "\n"
    "Examples:\n"
    "  shmring ls\n"
    "  shmring ls --all --json\n";

static int ls_shown(const struct ring_view *v, int all)
{
    if (v->what == VIEW_GONE)
        return 0;
    return all || v->what == VIEW_RING || v->what == VIEW_CREATING || v->what == VIEW_HALF_MADE;
}

static void ls_json_one(struct jw *w, struct ring_view *v)
{
    char buf[64];
    int ring = v->what == VIEW_RING;
    uint64_t fill;
    jw_open(w, '{');
    jw_key(w, "name");
    if (v->what == VIEW_RING || v->what == VIEW_CREATING || v->what == VIEW_HALF_MADE) {
        if (v->anon && ring)
            jw_null(w);
        else
            jw_str(w, v->name);
    } else {
        jw_null(w);
    }
    jw_key(w, "kind");
    if (ring && !v->corrupt)
        jw_str(w, kind_name(v->id.kind));
    else
        jw_null(w);
    jw_key(w, "anonymous");
    jw_bool(w, ring && v->anon);
    snprintf(buf, sizeof(buf), "0x%08x", (unsigned)v->seg.key);
    jw_key(w, "key");
    jw_str(w, buf);
    jw_key(w, "shmid");
    jw_i64(w, v->seg.shmid);
    jw_key(w, "bytes");
    jw_u64(w, v->seg.size);
    snprintf(buf, sizeof(buf), "%04o", v->seg.perms & 0777u);
    jw_key(w, "perms");
    jw_str(w, buf);
    jw_key(w, "uid");
    jw_u64(w, v->seg.uid);
    jw_key(w, "nattch");
    jw_u64(w, v->seg.nattch);
    if (ring && !v->corrupt) {
        int ok = view_fill(v, &fill);
        jw_key(w, "capacity");
        jw_u64(w, v->id.capacity);
        jw_key(w, "capacity_unit");
        jw_str(w, v->id.kind == SHMRING_KIND_SPSC ? "bytes" : "slots");
        jw_key(w, "slot_size");
        if (v->id.kind != SHMRING_KIND_SPSC)
            jw_u64(w, v->id.slot_size);
        else
            jw_null(w);
        jw_key(w, "fill");
        if (ok)
            jw_u64(w, fill);
        else
            jw_null(w);
        jw_key(w, "fill_percent");
        if (ok)
            jw_dbl(w, 100.0 * (double)fill / (double)v->id.capacity);
        else
            jw_null(w);
    }
    if (ring) {
        jw_key(w, "producers");
        if (v->sem_ok)
            jw_i64(w, v->semval[SHMRING_SEM_PRODUCERS]);
        else
            jw_null(w);
        jw_key(w, "consumers");
        if (v->sem_ok)
            jw_i64(w, v->semval[SHMRING_SEM_CONSUMERS]);
        else
            jw_null(w);
        jw_key(w, "sleepers");
        jw_open(w, '{');
        jw_key(w, "producers");
        jw_u64(w, shmring__load((SHMRING_ATOMIC(uint32_t) *)&v->hdr->wait.producer_sleeping, relaxed));
        jw_key(w, "consumers");
        jw_u64(w, shmring__load((SHMRING_ATOMIC(uint32_t) *)&v->hdr->wait.consumer_sleeping, relaxed));
        jw_close(w, '}');
    }
    jw_key(w, "state");
    jw_str(w, view_state(v));
    jw_close(w, '}');
}

struct ls_row {
    char name[SHOWN_MAX], kind[8], key[16], shmid[16], cap[16], slot[16], fill[16], use[8], prod[8], cons[8],
        sleep[24];
    const char *state;
};

static void ls_row_fill(struct ls_row *r, struct ring_view *v)
{
    int ring = v->what == VIEW_RING;
    uint64_t fill;
    memset(r, 0, sizeof(*r));
    strcpy(r->kind, "-");
    strcpy(r->cap, "-");
    strcpy(r->slot, "-");
    strcpy(r->fill, "-");
    strcpy(r->use, "-");
    strcpy(r->prod, "-");
    strcpy(r->cons, "-");
    strcpy(r->sleep, "-");
    if (ring && v->anon)
        strcpy(r->name, "(anonymous)");
    else if (ring || v->what == VIEW_CREATING || v->what == VIEW_HALF_MADE)
        name_for_text(v->name[0] ? v->name : "?", r->name, sizeof(r->name));
    else
        strcpy(r->name, "-");
    snprintf(r->key, sizeof(r->key), "0x%08x", (unsigned)v->seg.key);
    snprintf(r->shmid, sizeof(r->shmid), "%d", v->seg.shmid);
    r->state = view_state(v);
    if (!ring)
        return;
    if (!v->corrupt) {
        snprintf(r->kind, sizeof(r->kind), "%s", kind_name(v->id.kind));
        if (v->id.kind == SHMRING_KIND_SPSC) {
            human_size(v->id.capacity, r->cap, sizeof(r->cap));
        } else {
            snprintf(r->cap, sizeof(r->cap), "%llu", (unsigned long long)v->id.capacity);
            human_size(v->id.slot_size, r->slot, sizeof(r->slot));
        }
        if (view_fill(v, &fill)) {
            if (v->id.kind == SHMRING_KIND_SPSC)
                human_size(fill, r->fill, sizeof(r->fill));
            else
                snprintf(r->fill, sizeof(r->fill), "%llu", (unsigned long long)fill);
            snprintf(r->use, sizeof(r->use), "%d%%", (int)(100.0 * (double)fill / (double)v->id.capacity + 0.5));
        }
    }
    if (v->sem_ok) {
        snprintf(r->prod, sizeof(r->prod), "%d", v->semval[SHMRING_SEM_PRODUCERS]);
        snprintf(r->cons, sizeof(r->cons), "%d", v->semval[SHMRING_SEM_CONSUMERS]);
    }
    snprintf(r->sleep, sizeof(r->sleep), "%u/%u",
             (unsigned)shmring__load((SHMRING_ATOMIC(uint32_t) *)&v->hdr->wait.producer_sleeping, relaxed),
             (unsigned)shmring__load((SHMRING_ATOMIC(uint32_t) *)&v->hdr->wait.consumer_sleeping, relaxed));
}

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct shm_entry *segs;
    struct ls_row *rows;
    int json = 0, all = 0, c, n, i, nrows = 0, wname = 4;
    getopt_reset();
    while ((c = getopt_long(argc, argv, ":ajh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'a':
            all = 1;
            break;
        case 'h':
            fputs(ls_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_err("unexpected argument '%s' (ls lists every ring)", argv[optind]);
    if ((n = shm_list(&segs)) < 0) {
        cli_err("cannot read /proc/sysvipc/shm: %s", shmring_strerror(n));
        return EXIT_FAIL;
    }
    if (json) {
        struct jw w;
        memset(&w, 0, sizeof(w));
        w.f = stdout;
        jw_open(&w, '[');
        fputc('\n', stdout);
        for (i = 0; i < n; i++) {
            struct ring_view v;
            view_open(&segs[i], &v);
            if (ls_shown(&v, all))
                ls_json_one(&w, &v);
            view_close(&v);
        }
        if (w.comma[1])
            fputc('\n', stdout);
        jw_close(&w, ']');
        fputc('\n', stdout);
        free(segs);
        return EXIT_OK;
    }
    rows = (struct ls_row *)calloc((size_t)n + 1, sizeof(*rows));
    if (rows == NULL) {
        free(segs);
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    for (i = 0; i < n; i++) {
        struct ring_view v;
        view_open(&segs[i], &v);
        if (ls_shown(&v, all)) {
            ls_row_fill(&rows[nrows], &v);
            if ((int)strlen(rows[nrows].name) > wname)
                wname = (int)strlen(rows[nrows].name);
            nrows++;
        }
        view_close(&v);
    }
    printf("%-*s %-5s %-10s %6s %8s %5s %6s %4s %4s %4s %5s %s\n", wname, "NAME", "KIND", "KEY", "SHMID", "CAPACITY",
           "SLOT", "FILL", "USE%", "PROD", "CONS", "SLEEP", "STATE");
    for (i = 0; i < nrows; i++) {
        struct ls_row *r = &rows[i];
        printf("%-*s %-5s %-10s %6s %8s %5s %6s %4s %4s %4s %5s %s\n", wname, r->name, r->kind, r->key, r->shmid,
               r->cap, r->slot, r->fill, r->use, r->prod, r->cons, r->sleep, r->state);
    }
    free(rows);
    free(segs);
    return EXIT_OK;
}
