/* Test helper: a System V segment that is not a shmring (or a shmring of another ABI version), to
 * check that the `shmring` command lists it as not ours and never touches it.
 *
 *   foreign create KEY SIZE [abi]   makes a segment on KEY (hex or decimal) filled with a known
 *                                   pattern, prints its shmid; "abi": the pattern starts with
 *                                   SHMRING_MAGIC and ABI version 99 (another shmring version)
 *   foreign check SHMID             exit 0 if the segment still holds the pattern and is not
 *                                   marked for removal, 1 otherwise
 *   foreign rm SHMID                removes it
 *   foreign pipe                    makes an anonymous ring (shmring_spsc_pipe), prints "ready",
 *                                   holds it until stdin ends, then closes both ends
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "shmring/common.h"
#include "shmring/layout.h"
#include "shmring/spsc.h"

static void pattern(uint8_t *p, size_t n, int abi)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131u + 7u);
    if (abi) {
        uint64_t magic = SHMRING_MAGIC;
        uint32_t version = 99;
        memcpy(p, &magic, 8);
        memcpy(p + 8, &version, 4);
    } else {
        memcpy(p, "NOTARING", 8);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "create") == 0) {
        key_t key = (key_t)strtoul(argv[2], NULL, 0);
        size_t size = (size_t)strtoul(argv[3], NULL, 0);
        int abi = argc > 4 && strcmp(argv[4], "abi") == 0;
        int id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
        uint8_t *p;
        if (id < 0) {
            perror("foreign: shmget");
            return 1;
        }
        p = (uint8_t *)shmat(id, NULL, 0);
        if (p == (void *)-1) {
            perror("foreign: shmat");
            shmctl(id, IPC_RMID, NULL);
            return 1;
        }
        pattern(p, size, abi);
        shmdt(p);
        printf("%d\n", id);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        int id = atoi(argv[2]);
        struct shmid_ds ds;
        uint8_t *p, *want;
        int ok;
        if (shmctl(id, IPC_STAT, &ds) != 0 || (ds.shm_perm.mode & SHM_DEST)) {
            fprintf(stderr, "foreign: segment %d is gone or marked for removal\n", id);
            return 1;
        }
        p = (uint8_t *)shmat(id, NULL, SHM_RDONLY);
        want = (uint8_t *)malloc(ds.shm_segsz);
        if (p == (void *)-1 || want == NULL)
            return 1;
        pattern(want, ds.shm_segsz, memcmp(p, "NOTARING", 8) != 0);
        ok = memcmp(p, want, ds.shm_segsz) == 0;
        shmdt(p);
        free(want);
        if (!ok)
            fprintf(stderr, "foreign: segment %d was modified\n", id);
        return ok ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[1], "pipe") == 0) {
        struct shmring_spsc *p, *c;
        char line[64];
        int err = shmring_spsc_pipe(NULL, &p, &c);
        if (err) {
            fprintf(stderr, "foreign: pipe: %s\n", shmring_strerror(err));
            return 1;
        }
        printf("ready\n");
        fflush(stdout);
        while (fgets(line, sizeof(line), stdin))
            ;
        shmring_spsc_close(p);
        shmring_spsc_close(c);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "rm") == 0)
        return shmctl(atoi(argv[2]), IPC_RMID, NULL) == 0 ? 0 : 1;
    fprintf(stderr, "usage: foreign create KEY SIZE [abi] | check SHMID | rm SHMID | pipe\n");
    return 2;
}
