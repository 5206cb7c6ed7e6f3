/* shmring bench — the benchmark harness as a library: one entry point, the whole command line.
 *
 * Used by //bench:shmring_bench (a main() that calls it) and by the `shmring` tool (`shmring bench
 * ...`). Runs the selected workloads over the selected transports between two processes pinned to
 * two CPUs, prints a table and the targets, and optionally writes CSV, JSON and gnuplot
 * PNGs. `shmring_bench_main(2, {"shmring_bench", "--help"})` prints every option.
 *
 * Contract: call it at most once per process, from the main thread, with no child processes of
 * the caller running (it forks, and installs handlers for SIGINT, SIGTERM, SIGHUP, SIGCHLD and
 * SIGALRM, which it does not restore). It removes every System V object, FIFO and socket it
 * creates before returning, also when stopped by a signal (then it returns 128 + the signal).
 *
 * Returns the process exit status: 0 done, 1 run-time failure (a sequence-number mismatch, a
 * transport error, the peer process died), 2 bad usage (the message on stderr names the option
 * and the cause), 128+N stopped by signal N.
 */
#ifndef SHMRING_BENCH_HARNESS_H
#define SHMRING_BENCH_HARNESS_H

#ifdef __cplusplus
extern "C" {
#endif

int shmring_bench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_BENCH_HARNESS_H */
