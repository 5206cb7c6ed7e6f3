/* The public error table (SHMRING_ERRNO_MAP) and the two functions built from it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "shmring/shmring.h"

struct entry {
    int code;
    const char *name, *msg;
};

#define ENTRY(name, msg) {name, #name, msg},
static const struct entry table[] = {SHMRING_ERRNO_MAP(ENTRY)};
#undef ENTRY
#define N_ENTRIES (sizeof(table) / sizeof(table[0]))

Test(errors, every_code_has_its_name_and_message)
{
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const struct entry *e = &table[i];
        cr_assert_gt(e->code, 0, "%s", e->name);
        cr_expect_str_eq(shmring_err_name(-e->code), e->name);
        cr_expect_str_eq(shmring_err_name(e->code), e->name, "positive %s", e->name);
        cr_expect_str_eq(shmring_strerror(-e->code), e->msg, "%s", e->name);
        cr_expect_str_eq(shmring_strerror(e->code), e->msg, "positive %s", e->name);
        cr_expect_gt(strlen(e->msg), 5, "%s: message too short", e->name);
    }
}

Test(errors, codes_are_distinct)
{
    for (size_t i = 0; i < N_ENTRIES; i++)
        for (size_t j = i + 1; j < N_ENTRIES; j++)
            cr_expect_neq(table[i].code, table[j].code, "%s and %s are the same code", table[i].name, table[j].name);
}

/* The codes the issue named as missing from err_name before the table was public. */
Test(errors, named_codes)
{
    cr_expect_str_eq(shmring_err_name(-EUSERS), "EUSERS");
    cr_expect_str_eq(shmring_err_name(-ECHILD), "ECHILD");
    cr_expect_str_eq(shmring_err_name(-EINTR), "EINTR");
    cr_expect_str_eq(shmring_err_name(-EIO), "EIO");
}

Test(errors, outside_the_table)
{
    cr_expect_str_eq(shmring_err_name(0), "OK");
    cr_expect_str_eq(shmring_strerror(0), "success");
    /* An errno the library never returns: the system's description, no name. */
    cr_expect_str_eq(shmring_err_name(-ENOTTY), "UNKNOWN");
    cr_expect_str_eq(shmring_strerror(-ENOTTY), strerrordesc_np(ENOTTY));
    /* Not an errno at all: never NULL, no overflow on INT_MIN. */
    cr_expect_str_eq(shmring_err_name(-100000), "UNKNOWN");
    cr_expect_str_eq(shmring_strerror(-100000), "unknown error");
    cr_expect_str_eq(shmring_err_name(INT_MIN), "UNKNOWN");
    cr_expect_str_eq(shmring_strerror(INT_MIN), "unknown error");
    cr_expect_str_eq(shmring_strerror(INT_MAX), "unknown error");
}
