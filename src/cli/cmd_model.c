/*
 * cmd_model.c - `vitrine model info`: what the configured sentence encoder
 * is, one "name  value" line per property, so people read it and scripts
 * can split it on the first run of spaces.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "text/pipeline.h"

int cmd_model_info(struct cli *c)
{
    struct vt_textenc *te = NULL;
    struct vt_encoder_info in;
    struct vt_error e;
    const char *model = cli_opt(c, "--model");
    int rc = cli_textenc_new(c, &te);
    if (rc)
        return rc;
    vt_error_clear(&e);
    if (vt_textenc_info(te, &in, &e)) {
        vt_textenc_free(te);
        return cli_fail("%s", e.message[0] ? e.message : vt_strerror(e.code));
    }
    int reads = vt_textenc_reads_chinese(te, NULL) == 1;
    int bridge = vt_conf_int(c->conf, "bridge") != 0;
    printf("path           %s\n", model ? model : vt_conf_str(c->conf, "model"));
    printf("architecture   %s\n", in.arch);
    printf("model id       %s\n", in.model_id);
    printf("dimension      %zu\n", in.dim);
    printf("layers         %zu\n", in.layers);
    printf("hidden size    %zu\n", in.hidden);
    printf("heads          %zu\n", in.heads);
    printf("max tokens     %zu\n", in.max_tokens);
    printf("vocabulary     %zu\n", in.vocab_size);
    printf("pooling        %s\n", in.pooling ? in.pooling : "-");
    printf("normalised     %s\n", in.normalized ? "yes (L2)" : "no");
    printf("licence        %s\n", in.license && in.license[0] ? in.license : "unknown");
    printf("chinese        %s\n",
           reads    ? "read by the model (its vocabulary has Chinese pieces)"
           : bridge ? "through the Chinese-to-English bridge (no Chinese pieces in the "
                      "vocabulary)"
                    : "read as it is (no Chinese pieces in the vocabulary, and bridge = 0)");
    vt_textenc_free(te);
    return CLI_OK;
}
