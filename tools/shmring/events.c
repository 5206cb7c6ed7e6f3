/* shmring events / shmring send: the ring's control channel from the shell.
 *
 *   shmring events NAME   subscribes and prints each event as a line (or a JSON object per line)
 *   shmring send NAME     sends an application message (SHMRING_EV_APP) to every subscriber or
 *                         to one process's subscriptions
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "shmring/control.h"

static const char events_help[] =
    "Usage: shmring events NAME [--type LIST] [--count N] [--timeout SEC] [--json]\n"
    "\n"
    "Subscribes to the control events of ring NAME and prints one line per event until Ctrl-C,\n"
    "--count events, --timeout seconds without an event, or the ring's removal.\n"
    "\n"
    "  -T, --type LIST    event types to print, comma-separated: attach, detach, eos, peer_died,\n"
    "                     removed, app (default: all)\n"
    "  -n, --count N      stop after N events\n"
    "  -t, --timeout SEC  stop (status 1) when no event came for SEC seconds\n"
    "  -j, --json         one JSON object per line: {\"type\":..,\"role\":..,\"pid\":..,...}\n"
    "  -h, --help         this text\n"
    "\n"
    "Line format: TIME TYPE [role ROLE] pid PID [code CODE to PID data TEXT]\n"
    "Events are only those sent after the subscription; a full queue drops events (the count of\n"
    "dropped ones is printed at the end if any).\n";

static const char send_help[] =
    "Usage: shmring send NAME [--to PID] [--code N] [TEXT]\n"
    "\n"
    "Sends an application message (type APP) on the control channel of ring NAME to every\n"
    "subscriber, or only to the subscriptions of process PID. TEXT (at most 240 bytes) is the\n"
    "message's data. Prints how many subscribers it was queued for. Never blocks: a full queue\n"
    "drops the message for that subscriber.\n"
    "\n"
    "  -p, --to PID     only that process's subscriptions (default: all)\n"
    "  -c, --code N     the application's code (default 0)\n"
    "  -h, --help       this text\n";

static int parse_types(const char *s, uint32_t *mask)
{
    char buf[256], *tok, *save = NULL;
    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    *mask = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint32_t t;
        for (t = SHMRING_EV_ATTACH; t <= SHMRING_EV_APP; t++)
            if (strcasecmp(tok, shmring_event_name(t)) == 0)
                break;
        if (t > SHMRING_EV_APP)
            return -1;
        *mask |= SHMRING_EV_BIT(t);
    }
    return *mask ? 0 : -1;
}

static const char *role_name(uint32_t role)
{
    return role == SHMRING_PRODUCER ? "producer" : role == SHMRING_CONSUMER ? "consumer" : "-";
}

static void print_event(const struct shmring_event *ev, int json)
{
    char when[32] = "-";
    if (ev->time_ns > 0) {
        time_t sec = (time_t)(ev->time_ns / 1000000000);
        struct tm tm;
        localtime_r(&sec, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03d", (int)(ev->time_ns / 1000000 % 1000));
    }
    if (json) {
        printf("{\"type\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"time_ns\":%lld", shmring_event_name(ev->type),
               role_name(ev->role), (int)ev->pid, (long long)ev->time_ns);
        if (ev->type == SHMRING_EV_APP) {
            printf(",\"code\":%u,\"to_pid\":%d,\"data\":", ev->code, (int)ev->to_pid);
            json_string(stdout, (const char *)ev->data, ev->len);
        }
        fputs("}\n", stdout);
    } else {
        printf("%s %-9s", when, shmring_event_name(ev->type));
        if (ev->type == SHMRING_EV_ATTACH || ev->type == SHMRING_EV_DETACH || ev->type == SHMRING_EV_PEER_DIED)
            printf(" role %s", role_name(ev->role));
        if (ev->type != SHMRING_EV_REMOVED)
            printf(" pid %d", (int)ev->pid);
        if (ev->type == SHMRING_EV_APP) {
            char text[4 * SHMRING_EVENT_DATA_MAX + 8], raw[SHMRING_EVENT_DATA_MAX + 1];
            memcpy(raw, ev->data, ev->len);
            raw[ev->len] = '\0';
            /* Data may hold any bytes: show them escaped like names (a NUL ends the text). */
            printf(" code %u to %d data %s", ev->code, (int)ev->to_pid,
                   ev->len ? name_for_text(raw, text, sizeof(text)) : "-");
        }
        putchar('\n');
    }
    fflush(stdout);
}

int cmd_events(int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 'T'},
        {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct shmring_control *ctl;
    uint32_t mask = SHMRING_EV_ALL;
    uint64_t count = 0, seen = 0;
    double timeout = -1;
    int c, err, json = 0, rc = EXIT_OK;
    char shown[4 * SHMRING_NAME_MAX + 8];
    int64_t last;

    getopt_reset();
    while ((c = getopt_long(argc, argv, ":T:n:t:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'T':
            if (parse_types(optarg, &mask) != 0)
                return cli_usage_err("bad event types '%s' (attach,detach,eos,peer_died,removed,app)", optarg);
            break;
        case 'n':
            if (parse_count(optarg, &count) != 0)
                return cli_usage_err("bad count '%s' (a positive number)", optarg);
            break;
        case 't':
            if (parse_seconds(optarg, &timeout) != 0)
                return cli_usage_err("bad timeout '%s' (seconds)", optarg);
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(events_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if ((rc = cli_one_name(argc, argv)) != EXIT_OK)
        return rc;
    name_for_text(argv[optind], shown, sizeof(shown));
    if ((err = shmring_control_open(argv[optind], mask, &ctl)) != 0) {
        cli_err("%s: %s", shown, shmring_strerror(err));
        return err == -EINVAL || err == -ENAMETOOLONG ? EXIT_USAGE : EXIT_FAIL;
    }
    signals_setup();
    last = now_mono_ns();
    while (!cli_stop && (count == 0 || seen < count)) {
        struct shmring_event ev;
        /* Short waits, so that Ctrl-C is seen within 200 ms. */
        err = shmring_control_recv(ctl, &ev, 200 * 1000 * 1000);
        if (err == 0) {
            print_event(&ev, json);
            seen++;
            last = now_mono_ns();
            continue;
        }
        if (err == -ETIMEDOUT || err == -EINTR) {
            if (timeout >= 0 && now_mono_ns() - last >= (int64_t)(timeout * 1e9)) {
                cli_err("%s: no event for %g s", shown, timeout);
                rc = EXIT_FAIL;
                break;
            }
            continue;
        }
        if (err == -EIDRM) {
            cli_err("%s: ring removed", shown);
        } else {
            cli_err("%s: %s", shown, shmring_strerror(err));
            rc = EXIT_FAIL;
        }
        break;
    }
    if (shmring_control_dropped(ctl) > 0)
        cli_err("%s: %llu events dropped (queue full) or malformed", shown,
                (unsigned long long)shmring_control_dropped(ctl));
    shmring_control_close(ctl);
    signals_finish();
    return rc;
}

int cmd_send(int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 'p'},
        {"code", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct shmring_control *ctl;
    const char *text = "";
    char shown[4 * SHMRING_NAME_MAX + 8], *end;
    unsigned long long v;
    int32_t to = 0;
    uint32_t code = 0;
    int c, n;

    getopt_reset();
    while ((c = getopt_long(argc, argv, ":p:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            errno = 0;
            v = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg || v == 0 || v > INT32_MAX)
                return cli_usage_err("bad pid '%s'", optarg);
            to = (int32_t)v;
            break;
        case 'c':
            errno = 0;
            v = strtoull(optarg, &end, 0);
            if (errno || *end || end == optarg || v > UINT32_MAX)
                return cli_usage_err("bad code '%s' (0 to 4294967295)", optarg);
            code = (uint32_t)v;
            break;
        case 'h':
            fputs(send_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if (optind >= argc)
        return cli_usage_err("missing ring name");
    if (optind + 2 < argc)
        return cli_usage_err("one TEXT argument (quote it); extra argument '%s'", argv[optind + 2]);
    if (optind + 1 < argc)
        text = argv[optind + 1];
    if (strlen(text) > SHMRING_EVENT_DATA_MAX)
        return cli_usage_err("text of %zu bytes: at most %u", strlen(text), SHMRING_EVENT_DATA_MAX);
    name_for_text(argv[optind], shown, sizeof(shown));
    if ((n = shmring_control_open(argv[optind], 0, &ctl)) != 0) {
        cli_err("%s: %s", shown, shmring_strerror(n));
        return n == -EINVAL || n == -ENAMETOOLONG ? EXIT_USAGE : EXIT_FAIL;
    }
    n = shmring_control_send(ctl, to, code, text, strlen(text));
    shmring_control_close(ctl);
    if (n < 0) {
        cli_err("%s: %s", shown, shmring_strerror(n));
        return EXIT_FAIL;
    }
    printf("%d\n", n);
    return EXIT_OK;
}
