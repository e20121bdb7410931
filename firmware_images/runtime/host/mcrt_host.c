/*
 * mcrt_host.c -- host harness for the mcrt runtime (tests only).
 *
 *   mcrt_host MODEL.tflite IN.bin OUT.bin [--arena BYTES] [--info]
 *
 * IN.bin holds N inputs back to back (N >= 1, each exactly the byte size of input 0);
 * the model runs once per input and OUT.bin receives the N outputs (output 0) back to
 * back. IN may be "-": one inference on an all-zero input. --info prints the plan (arena bytes, ops, MACs) to stdout; with --info, IN and
 * OUT may be "-" to skip running. Exit status: 0, or the runtime's error code
 * (MCUSIM_ERR_*: 10 bad model, 11 unsupported, 12 arena too small, 13 input size), with
 * "error <code> <arg>" on stderr; 2 for usage or file errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../mcrt.h"

static mcrt_ctx_t ctx;

static unsigned char *read_file(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc(*len > 0 ? (size_t)*len : 1u);
    if (b && *len > 0 && fread(b, 1, (size_t)*len, f) != (size_t)*len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    long mlen = 0, ilen = 0, n, k;
    unsigned char *model, *input = NULL, *arena;
    unsigned long arena_size = 4ul << 20;
    int info = 0, rc, i;
    uint32_t in_bytes, out_bytes;
    FILE *fo;
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL IN OUT [--arena BYTES] [--info]\n", argv[0]);
        return 2;
    }
    for (i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--info")) info = 1;
        else if (!strcmp(argv[i], "--arena") && i + 1 < argc) arena_size = strtoul(argv[++i], 0, 0);
        else {
            fprintf(stderr, "bad argument %s\n", argv[i]);
            return 2;
        }
    }
    model = read_file(argv[1], &mlen);
    if (!model) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    /* copy the model into an exact-size buffer so that any overread is caught by ASan */
    arena = (unsigned char *)malloc(arena_size ? arena_size : 1u);
    rc = mcrt_init(&ctx, model, (uint32_t)mlen, arena, (uint32_t)arena_size);
    if (rc) {
        fprintf(stderr, "error %d %lu\n", rc, (unsigned long)mcrt_error_arg(&ctx));
        if (info && rc == MCRT_ERR_ARENA)
            printf("{\"arena_needed\": %lu}\n", (unsigned long)mcrt_error_arg(&ctx));
        return rc;
    }
    in_bytes = mcrt_input_bytes(&ctx, 0);
    out_bytes = mcrt_output_bytes(&ctx, 0);
    if (info) {
        printf("{\"kernels\": \"%s\", \"arena_bytes\": %lu, \"planned_bytes\": %lu, "
               "\"persistent_bytes\": %lu, \"input_bytes\": %lu, \"input_type\": %d, "
               "\"output_bytes\": %lu, \"output_type\": %d, \"ops\": [",
               mcrt_kernels_name(), (unsigned long)mcrt_arena_used(&ctx),
               (unsigned long)ctx.planned_bytes, (unsigned long)ctx.persistent_bytes,
               (unsigned long)in_bytes, mcrt_input_type(&ctx, 0), (unsigned long)out_bytes,
               mcrt_output_type(&ctx, 0));
        for (i = 0; i < mcrt_num_ops(&ctx); i++)
            printf("%s[%d, %lu]", i ? ", " : "", mcrt_op_code(&ctx, i),
                   (unsigned long)mcrt_op_macs(&ctx, i));
        printf("]}\n");
        if (!strcmp(argv[2], "-")) return 0;
    }
    if (!strcmp(argv[2], "-")) {
        /* one inference on an all-zero input (used by the corrupt-model tests) */
        ilen = (long)in_bytes;
        input = (unsigned char *)calloc(in_bytes ? in_bytes : 1u, 1);
    } else {
        input = read_file(argv[2], &ilen);
    }
    if (!input) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }
    if (in_bytes == 0 || ilen <= 0 || ilen % (long)in_bytes) {
        fprintf(stderr, "error %d %lu\n", MCRT_ERR_INPUT, (unsigned long)in_bytes);
        return MCRT_ERR_INPUT;
    }
    n = ilen / (long)in_bytes;
    fo = fopen(argv[3], "wb");
    if (!fo) {
        fprintf(stderr, "cannot write %s\n", argv[3]);
        return 2;
    }
    for (k = 0; k < n; k++) {
        memcpy(mcrt_input(&ctx, 0), input + k * (long)in_bytes, in_bytes);
        rc = mcrt_invoke(&ctx);
        if (rc) {
            fprintf(stderr, "error %d %lu\n", rc, (unsigned long)mcrt_error_arg(&ctx));
            fclose(fo);
            return rc;
        }
        fwrite(mcrt_output(&ctx, 0), 1, out_bytes, fo);
    }
    fclose(fo);
    free(input);
    free(model);
    free(arena);
    return 0;
}
