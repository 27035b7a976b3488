/*
 * test.h - the unit-test harness: a test file defines TEST(name) functions
 * and lists them in main() with RUN(name). CHECK() records a failure with
 * its line and goes on; the program prints "<file>: N passed, N failed"
 * and exits non-zero when any check failed.
 */
#ifndef VT_TEST_H
#define VT_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int tests_passed, tests_failed;
static const char *test_current;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  FAIL %s:%d in %s: %s\n", __FILE__, __LINE__, test_current, \
                    #cond);                                                           \
            test_failed_checks++;                                                     \
        }                                                                             \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                  \
    do {                                                                                    \
        long long va_ = (long long)(a), vb_ = (long long)(b);                               \
        if (va_ != vb_) {                                                                   \
            fprintf(stderr, "  FAIL %s:%d in %s: %s == %s (%lld vs %lld)\n", __FILE__,      \
                    __LINE__, test_current, #a, #b, va_, vb_);                              \
            test_failed_checks++;                                                           \
        }                                                                                   \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *sa_ = (a), *sb_ = (b);                                                   \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                         \
            fprintf(stderr, "  FAIL %s:%d in %s: %s == %s (\"%s\" vs \"%s\")\n", __FILE__,   \
                    __LINE__, test_current, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
            test_failed_checks++;                                                            \
        }                                                                                    \
    } while (0)

#define CHECK_NEAR(a, b, tol) CHECK(fabs((double)(a) - (double)(b)) <= (tol))

#define RUN(name)                                                    \
    do {                                                             \
        int before_ = test_failed_checks;                            \
        test_current = #name;                                        \
        name();                                                      \
        if (test_failed_checks == before_) {                         \
            tests_passed++;                                          \
        } else {                                                     \
            tests_failed++;                                          \
            fprintf(stderr, "  failed: %s\n", #name);                \
        }                                                            \
    } while (0)

#define TEST_SUMMARY()                                                               \
    (printf("%s: %d passed, %d failed\n", __FILE__, tests_passed, tests_failed),    \
     tests_failed ? 1 : 0)

#endif
