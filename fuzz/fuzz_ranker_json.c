/*
 * fuzz_ranker_json.c - libFuzzer target for vt_ranker_from_json
 * (rec/ranker.h): the saved ranker the engine reads back from the store's
 * metadata at start, which a damaged or hand-edited database can make
 * anything.
 *
 * Input: JSON text, parsed as the engine parses the saved model
 * (json_loadb), then read against fixed feature names (three interest,
 * two AR, the names of the seeds in fuzz/corpus/ranker_json).
 *
 * Checks beyond "no crash, no sanitizer report":
 *   - a refusal is VT_EFORMAT (or VT_ENOMEM) with a message and no model;
 *   - an accepted model scores fixed feature vectors to finite values in
 *     [0, 1], and its contributions are finite;
 *   - its JSON form is accepted again and is a fixed point (what the
 *     engine saves, it can read);
 *   - read again with one allocation failing, the result is VT_ENOMEM or
 *     the same model, with nothing leaked.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "rec/ranker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(c)                                                                         \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            fprintf(stderr, "fuzz_ranker_json: check failed at line %d: %s\n", __LINE__, \
                    #c);                                                                 \
            abort();                                                                     \
        }                                                                                \
    } while (0)

static const char *const x_feats[] = {"sem_context", "cf_als", "pop"};
static const char *const y_feats[] = {"ar_self", "ar_near"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vt_alloc_install_json();
    json_object_seed(1);
    return 0;
}

static void check_model(const struct vt_ranker *m)
{
    static const float probes[3][5] = {
        {0, 0, 0, 0, 0}, {1, 1, 1, 1, 1}, {-1, 0.5f, 1e30f, NAN, 0.25f}};
    for (int i = 0; i < 3; i++) {
        double z, a, p = vt_ranker_score(m, probes[i], &z, &a);
        float c[5];
        CHECK(isfinite(p) && p >= 0 && p <= 1);
        CHECK(isfinite(z) && isfinite(a));
        vt_ranker_contrib(m, probes[i], c);
        for (int k = 0; k < 5; k++)
            CHECK(isfinite(c[k]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    struct vt_ranker *m = NULL, *again = NULL;
    struct vt_error err;
    int rc;

    if (!j)
        return 0;
    rc = vt_ranker_from_json(j, x_feats, 3, y_feats, 2, &m, &err);
    if (rc) {
        CHECK(rc == VT_EFORMAT || rc == VT_ENOMEM);
        CHECK(m == NULL);
        CHECK(err.code == rc && err.message[0]);
        json_decref(j);
        return 0;
    }
    CHECK(m != NULL);
    check_model(m);

    json_t *out = vt_ranker_to_json(m);
    CHECK(out != NULL);
    rc = vt_ranker_from_json(out, x_feats, 3, y_feats, 2, &again, &err);
    if (rc)
        fprintf(stderr, "fuzz_ranker_json: a saved model was refused: %s\n", err.message);
    CHECK(rc == 0);
    json_t *out2 = vt_ranker_to_json(again);
    CHECK(out2 && json_equal(out, out2));
    json_decref(out2);
    vt_ranker_free(again);
    again = NULL;

    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    vt_alloc_fail_after(1 + (int64_t)(h % 40));
    rc = vt_ranker_from_json(j, x_feats, 3, y_feats, 2, &again, &err);
    vt_alloc_fail_after(0);
    if (rc) {
        CHECK(rc == VT_ENOMEM && again == NULL);
    } else {
        out2 = vt_ranker_to_json(again);
        CHECK(out2 && json_equal(out, out2));
        json_decref(out2);
        vt_ranker_free(again);
    }
    json_decref(out);
    vt_ranker_free(m);
    json_decref(j);
    return 0;
}

#ifdef FUZZ_STANDALONE
int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        static uint8_t buf[1 << 20];
        size_t n;
        if (!f)
            continue;
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
