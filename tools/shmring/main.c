/* shmring — the command-line tool for shmring rings: create, list, inspect, watch, remove, and
 * use a ring from a shell pipeline (put/get). See README.md, "The shmring command".
 *
 * Subcommands live in the table below: add a row (and a cmd_* function) to add one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench/harness.h"
#include "cli.h"

static int cmd_bench(int argc, char **argv);

static const struct cli_cmd commands[] = {
    {"create", cmd_create, "create a ring"},
    {"rm", cmd_rm, "remove rings by name, or every stale ring (--stale)"},
    {"ls", cmd_ls, "list the rings in this IPC namespace (like ipcs)"},
    {"stat", cmd_stat, "show a ring's geometry, positions, counters, processes and control queue"},
    {"watch", cmd_watch, "show a ring's rates every interval"},
    {"put", cmd_put, "copy stdin into a ring (one record per line, or fixed-size blocks)"},
    {"get", cmd_get, "copy a ring's records to stdout until end of stream"},
    {"events", cmd_events, "print a ring's control events (attach, detach, eos, peer died, ...)"},
    {"send", cmd_send, "send an application message on a ring's control channel"},
    {"bridge", cmd_bridge, "forward a ring to a ZeroMQ socket, or a ZeroMQ socket into a ring"},
    {"bench", cmd_bench, "measure latency and throughput beside pipes, sockets, SysV IPC (--help)"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The bench harness (bench/harness.h) parses its own options: argv[0] becomes "shmring bench". */
static int cmd_bench(int argc, char **argv)
{
    argv[0] = (char *)"shmring bench";
    return shmring_bench_main(argc, argv);
}

static void usage(FILE *f)
{
    size_t i;
    fputs("Usage: shmring SUBCOMMAND [ARGS...]\n"
          "       shmring SUBCOMMAND --help\n"
          "\n"
          "Lock-free rings in System V shared memory: create, inspect and use them.\n"
          "\n"
          "Subcommands:\n",
          f);
    for (i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Exit status: 0 success, 1 operational error (no such ring, not a ring, system error),\n"
          "2 usage error. Messages go to stderr and name the ring and the cause.\n",
          f);
}

int main(int argc, char **argv)
{
    size_t i;
    if (argc < 2)
        return cli_usage_err("missing subcommand");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            int rc;
            cli_cmd_name = commands[i].name;
            rc = commands[i].run(argc - 1, argv + 1);
            if (fflush(stdout) != 0 && rc == EXIT_OK && errno != EPIPE) {
                cli_err("writing to stdout failed");
                rc = EXIT_FAIL;
            }
            return rc;
        }
    }
    if (argv[1][0] == '-')
        return cli_usage_err("unknown option '%s' (options follow the subcommand)", argv[1]);
    return cli_usage_err("unknown subcommand '%s'", argv[1]);
}
