/* The C side of bindings/c/tests/c_abi.rs: drives libjitp as a C program
 * would and prints what it saw, for the Rust test to check.
 *
 *   harness decide BUNDLE REQUEST...     one decision (or error) per line
 *   harness corrupt BUNDLE               truncations and byte flips, counted
 *   harness threads BUNDLE REQUEST N     N pthreads deciding at once
 *   harness loop BUNDLE REQUEST N [leak] N decisions; `leak` forgets to free
 *   harness misuse BUNDLE                null pointers, bad UTF-8, tiny buffers
 */
#include "jitp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(2); }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) { cap *= 2; buf = realloc(buf, cap + 1); }
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static JitpBundle *load(const char *path) {
    JitpBundle *b = NULL;
    JitpStatus s = jitp_bundle_from_file(path, &b);
    if (s != JITP_STATUS_OK) {
        fprintf(stderr, "load failed (%d): %s\n", (int)s, jitp_last_error());
        exit(3);
    }
    return b;
}

/* Decides with the caller-buffer API, growing the buffer once if needed.
 * Returns a malloc'd string, or NULL (status in *status). */
static char *decide_buf(const JitpBundle *b, const char *req, size_t len, JitpStatus *status) {
    char small[16];
    size_t need = 0;
    JitpStatus s = jitp_decide(b, req, len, small, sizeof small, &need);
    if (s == JITP_STATUS_OK) { *status = s; return strdup(small); }
    if (s != JITP_STATUS_BUFFER_TOO_SMALL) { *status = s; return NULL; }
    char *big = malloc(need + 1);
    s = jitp_decide(b, req, len, big, need + 1, &need);
    *status = s;
    if (s != JITP_STATUS_OK) { free(big); return NULL; }
    return big;
}

static int cmd_decide(int argc, char **argv) {
    JitpBundle *b = load(argv[2]);
    for (int i = 3; i < argc; i++) {
        size_t len;
        char *req = read_file(argv[i], &len);
        char *owned = NULL;
        JitpStatus s = jitp_decide_alloc(b, req, len, &owned);
        if (s != JITP_STATUS_OK) {
            printf("error %d %s\n", (int)s, jitp_last_error());
        } else {
            /* Both APIs give the same text. */
            JitpStatus s2;
            char *viabuf = decide_buf(b, req, len, &s2);
            if (s2 != JITP_STATUS_OK || strcmp(viabuf, owned) != 0) {
                printf("mismatch between jitp_decide and jitp_decide_alloc\n");
                return 1;
            }
            free(viabuf);
            printf("%s\n", owned);
        }
        jitp_string_free(owned);
        free(req);
    }
    jitp_bundle_free(b);
    return 0;
}

static int cmd_corrupt(int argc, char **argv) {
    (void)argc;
    size_t len;
    unsigned char *bytes = (unsigned char *)read_file(argv[2], &len);
    JitpBundle *b = NULL;
    if (jitp_bundle_from_bytes(bytes, len, &b) != JITP_STATUS_OK) {
        printf("the intact bundle was refused: %s\n", jitp_last_error());
        return 1;
    }
    jitp_bundle_free(b);
    int refused = 0, accepted = 0, other = 0;
    /* Every truncation. */
    for (size_t cut = 0; cut < len; cut++) {
        b = NULL;
        JitpStatus s = jitp_bundle_from_bytes(bytes, cut, &b);
        if (s == JITP_STATUS_BUNDLE_ERROR && b == NULL && jitp_last_error()[0]) refused++;
        else if (s == JITP_STATUS_OK) { accepted++; jitp_bundle_free(b); }
        else other++;
    }
    /* A flipped bit at every byte. */
    for (size_t at = 0; at < len; at++) {
        bytes[at] ^= 0x10;
        b = NULL;
        JitpStatus s = jitp_bundle_from_bytes(bytes, len, &b);
        if (s == JITP_STATUS_BUNDLE_ERROR && b == NULL && jitp_last_error()[0]) refused++;
        else if (s == JITP_STATUS_OK) { accepted++; jitp_bundle_free(b); }
        else other++;
        bytes[at] ^= 0x10;
    }
    b = NULL;
    jitp_bundle_from_bytes(bytes, len / 2, &b);
    printf("refused %d accepted %d other %d\n", refused, accepted, other);
    printf("message %s\n", jitp_last_error());
    free(bytes);
    return 0;
}

struct job {
    const JitpBundle *bundle;
    const char *req;
    size_t len;
    const char *expected;
    int rounds;
    int mismatches;
};

static void *worker(void *arg) {
    struct job *j = arg;
    for (int i = 0; i < j->rounds; i++) {
        JitpStatus s;
        char *got = decide_buf(j->bundle, j->req, j->len, &s);
        if (s != JITP_STATUS_OK || strcmp(got, j->expected) != 0) j->mismatches++;
        free(got);
    }
    return NULL;
}

static int cmd_threads(int argc, char **argv) {
    (void)argc;
    JitpBundle *b = load(argv[2]);
    size_t len;
    char *req = read_file(argv[3], &len);
    int n = atoi(argv[4]);
    JitpStatus s;
    char *expected = decide_buf(b, req, len, &s);
    if (s != JITP_STATUS_OK) { printf("single-threaded decision failed\n"); return 1; }
    pthread_t *threads = calloc((size_t)n, sizeof *threads);
    struct job *jobs = calloc((size_t)n, sizeof *jobs);
    for (int i = 0; i < n; i++) {
        jobs[i] = (struct job){b, req, len, expected, 2000, 0};
        pthread_create(&threads[i], NULL, worker, &jobs[i]);
    }
    int mismatches = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        mismatches += jobs[i].mismatches;
    }
    printf("threads %d decisions %d mismatches %d\n", n, n * 2000, mismatches);
    free(threads); free(jobs); free(expected); free(req);
    jitp_bundle_free(b);
    return 0;
}

static int cmd_loop(int argc, char **argv) {
    int leak = argc > 5 && strcmp(argv[5], "leak") == 0;
    JitpBundle *b = load(argv[2]);
    size_t len;
    char *req = read_file(argv[3], &len);
    int n = atoi(argv[4]);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        char *out = NULL;
        if (jitp_decide_alloc(b, req, len, &out) == JITP_STATUS_OK) ok++;
        if (!leak) jitp_string_free(out);
        /* An error path too: its message lives in thread-local storage. */
        char *none = NULL;
        jitp_decide_alloc(b, "{", 1, &none);
    }
    printf("decided %d\n", ok);
    free(req);
    jitp_bundle_free(b);
    return 0;
}

static int cmd_misuse(int argc, char **argv) {
    (void)argc;
    JitpBundle *b = load(argv[2]);
    char buf[8];
    size_t need = 0;
    JitpBundle *none = NULL;
    const char bad[] = "{\"a\": \"\xff\"}";
    printf("null bundle %d %s\n", (int)jitp_decide(NULL, "{}", 2, buf, sizeof buf, &need), jitp_last_error());
    printf("null request %d %s\n", (int)jitp_decide(b, NULL, 2, buf, sizeof buf, &need), jitp_last_error());
    printf("null out_len %d %s\n", (int)jitp_decide(b, "{}", 2, buf, sizeof buf, NULL), jitp_last_error());
    printf("null path %d %s\n", (int)jitp_bundle_from_file(NULL, &none), jitp_last_error());
    printf("null out %d %s\n", (int)jitp_bundle_from_file(argv[2], NULL), jitp_last_error());
    printf("null bytes %d %s\n", (int)jitp_bundle_from_bytes(NULL, 10, &none), jitp_last_error());
    printf("bad utf8 %d %s\n", (int)jitp_decide(b, bad, sizeof bad - 1, buf, sizeof buf, &need), jitp_last_error());
    printf("bad utf8 path %d %s\n", (int)jitp_bundle_from_file("\xc3(", &none), jitp_last_error());
    printf("missing file %d %s\n", (int)jitp_bundle_from_file("/nonexistent/x.jitb", &none), jitp_last_error());
    printf("not json %d %s\n", (int)jitp_decide(b, "nope", 4, buf, sizeof buf, &need), jitp_last_error());
    JitpStatus s = jitp_decide(b, "{}", 2, NULL, 0, &need);
    printf("length query %d %zu\n", (int)s, need);
    printf("after success %d [%s]\n", (int)jitp_decide(b, "{}", 2, buf, 0, &need) == JITP_STATUS_BUFFER_TOO_SMALL, "");
    jitp_bundle_free(NULL);
    jitp_string_free(NULL);
    jitp_bundle_free(b);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: harness CMD BUNDLE ...\n"); return 2; }
    if (!strcmp(argv[1], "decide")) return cmd_decide(argc, argv);
    if (!strcmp(argv[1], "corrupt")) return cmd_corrupt(argc, argv);
    if (!strcmp(argv[1], "threads") && argc > 4) return cmd_threads(argc, argv);
    if (!strcmp(argv[1], "loop") && argc > 4) return cmd_loop(argc, argv);
    if (!strcmp(argv[1], "misuse")) return cmd_misuse(argc, argv);
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
