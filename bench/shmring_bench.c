/* shmring_bench — the benchmark harness as a program: `shmring_bench --help`. See harness.h. */
#include "bench/harness.h"

int main(int argc, char **argv)
{
    return shmring_bench_main(argc, argv);
}
