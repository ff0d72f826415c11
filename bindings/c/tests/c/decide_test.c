/* The C test program of libjitp, compiled and run by tests/c_program.rs.
 *
 *   decide_test decide  BUNDLE REQUEST...  one line per request: the decision
 *                                           JSON (both decide calls must agree)
 *   decide_test corrupt FILE               the file must be refused as a bundle
 *   decide_test threads BUNDLE REQUEST...  8 threads decide every request 200
 *                                           times; all must agree with one thread
 *   decide_test loop    BUNDLE REQUEST N   N decisions (alloc + buffer), for the
 *                                           leak checker
 *   decide_test errors  BUNDLE             null pointers, bad UTF-8, small
 *                                           buffers, non-JSON requests
 * Exit status 0 on success; a message on stderr otherwise. */
#include "jitp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
  fprintf(stderr, "decide_test: %s: %s\n", what, jitp_last_error());
  return 1;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger) { free(buf); buf = NULL; }
      else buf = bigger;
    }
  }
  fclose(f);
  if (len) *len = n;
  return buf;
}

/* Decides through the owned-string call; the caller frees the result
 * with jitp_string_free. NULL on error. */
static char *decide_alloc(const JitpBundle *b, const char *req, size_t len) {
  char *out = NULL;
  if (jitp_decide_alloc(b, req, len, &out) != JITP_STATUS_OK) return NULL;
  return out;
}

/* Decides through the caller-buffer call, growing from a tiny buffer so
 * JITP_STATUS_BUFFER_TOO_SMALL is exercised. The caller frees with free. */
static char *decide_buf(const JitpBundle *b, const char *req, size_t len) {
  char small[8];
  size_t need = 0;
  JitpStatus s = jitp_decide(b, req, len, small, sizeof small, &need);
  if (s == JITP_STATUS_OK) return strdup(small);
  if (s != JITP_STATUS_BUFFER_TOO_SMALL) return NULL;
  char *buf = malloc(need + 1);
  if (!buf) return NULL;
  size_t again = 0;
  if (jitp_decide(b, req, len, buf, need + 1, &again) != JITP_STATUS_OK || again != need) {
    free(buf);
    return NULL;
  }
  return buf;
}

static int cmd_decide(int argc, char **argv) {
  JitpBundle *b = NULL;
  if (jitp_bundle_from_file(argv[2], &b) != JITP_STATUS_OK) return fail(argv[2]);
  int rc = 0;
  for (int i = 3; i < argc && rc == 0; i++) {
    size_t len = 0;
    char *req = read_file(argv[i], &len);
    if (!req) { fprintf(stderr, "cannot read %s\n", argv[i]); rc = 1; break; }
    char *a = decide_alloc(b, req, len);
    if (!a) {
      /* Not JSON at all: reported, like `jitp eval`'s input error. */
      printf("error %d %s\n", (int)JITP_STATUS_REQUEST_ERROR, jitp_last_error());
      free(req);
      continue;
    }
    char *c = decide_buf(b, req, len);
    if (!c || strcmp(a, c) != 0) { rc = fail("the two decide calls disagree"); }
    else printf("%s\n", a);
    jitp_string_free(a);
    free(c);
    free(req);
  }
  jitp_bundle_free(b);
  return rc;
}

static int cmd_corrupt(const char *path) {
  size_t len = 0;
  char *data = read_file(path, &len);
  if (!data) { fprintf(stderr, "cannot read %s\n", path); return 1; }
  JitpBundle *b = (JitpBundle *)0x1; /* must stay untouched on failure */
  JitpStatus s = jitp_bundle_from_bytes((const uint8_t *)data, len, &b);
  free(data);
  if (s == JITP_STATUS_OK) { jitp_bundle_free(b); fprintf(stderr, "accepted\n"); return 1; }
  if (s != JITP_STATUS_BUNDLE_ERROR || b != (JitpBundle *)0x1 || !*jitp_last_error()) {
    fprintf(stderr, "bad failure: status %d\n", (int)s);
    return 1;
  }
  printf("%s\n", jitp_last_error());
  return 0;
}

struct job {
  const JitpBundle *bundle;
  char **reqs;
  size_t *lens;
  char **expected;
  int n;
  int bad;
};

static void *worker(void *arg) {
  struct job *j = arg;
  for (int round = 0; round < 200; round++) {
    for (int i = 0; i < j->n; i++) {
      char *got = (round + i) % 2 ? decide_alloc(j->bundle, j->reqs[i], j->lens[i])
                                  : decide_buf(j->bundle, j->reqs[i], j->lens[i]);
      if (!got || strcmp(got, j->expected[i]) != 0) j->bad++;
      if ((round + i) % 2) jitp_string_free(got);
      else free(got);
    }
  }
  return NULL;
}

static int cmd_threads(int argc, char **argv) {
  JitpBundle *b = NULL;
  if (jitp_bundle_from_file(argv[2], &b) != JITP_STATUS_OK) return fail(argv[2]);
  int n = argc - 3;
  char **reqs = calloc(n, sizeof *reqs);
  size_t *lens = calloc(n, sizeof *lens);
  char **expected = calloc(n, sizeof *expected);
  int rc = 0;
  for (int i = 0; i < n; i++) {
    reqs[i] = read_file(argv[i + 3], &lens[i]);
    expected[i] = reqs[i] ? decide_buf(b, reqs[i], lens[i]) : NULL;
    if (!expected[i]) { rc = fail(argv[i + 3]); n = i + 1; goto out; }
  }
  enum { THREADS = 8 };
  pthread_t t[THREADS];
  struct job jobs[THREADS];
  for (int k = 0; k < THREADS; k++) {
    jobs[k] = (struct job){b, reqs, lens, expected, n, 0};
    pthread_create(&t[k], NULL, worker, &jobs[k]);
  }
  int bad = 0;
  for (int k = 0; k < THREADS; k++) {
    pthread_join(t[k], NULL);
    bad += jobs[k].bad;
  }
  if (bad) { fprintf(stderr, "%d concurrent decisions differ\n", bad); rc = 1; }
  else printf("%d decisions from %d threads agree\n", THREADS * 200 * n, THREADS);
out:
  for (int i = 0; i < n; i++) { free(reqs[i]); free(expected[i]); }
  free(reqs); free(lens); free(expected);
  jitp_bundle_free(b);
  return rc;
}

static int cmd_loop(const char *bundle, const char *request, long n) {
  size_t blen = 0, len = 0;
  char *data = read_file(bundle, &blen);
  char *req = read_file(request, &len);
  if (!data || !req) { fprintf(stderr, "cannot read the inputs\n"); return 1; }
  int rc = 0;
  for (long i = 0; i < n && rc == 0; i++) {
    JitpBundle *b = NULL;
    if (i % 1000 == 0) {
      /* Loading, failing and freeing are in the loop too. */
      if (jitp_bundle_from_bytes((const uint8_t *)data, blen / 2, &b) == JITP_STATUS_OK) rc = 1;
    }
    static JitpBundle *shared = NULL;
    if (!shared && jitp_bundle_from_bytes((const uint8_t *)data, blen, &shared) != JITP_STATUS_OK)
      return fail(bundle);
    char *a = decide_alloc(shared, req, len);
    char *c = decide_buf(shared, req, len);
    if (!a || !c) rc = fail("decide");
#ifndef JITP_LEAK
    jitp_string_free(a);
#endif
    free(c);
    if (i + 1 == n || rc) { jitp_bundle_free(shared); shared = NULL; }
  }
  free(data);
  free(req);
  if (rc == 0) printf("%ld decisions\n", n);
  return rc;
}

#define EXPECT(cond, what) \
  do { if (!(cond)) { fprintf(stderr, "decide_test: %s\n", what); return 1; } } while (0)

static int cmd_errors(const char *bundle) {
  JitpBundle *b = NULL;
  EXPECT(jitp_bundle_from_file(NULL, &b) == JITP_STATUS_NULL_ARGUMENT, "null path");
  EXPECT(strstr(jitp_last_error(), "`path`") != NULL, "null path message");
  EXPECT(jitp_bundle_from_file(bundle, NULL) == JITP_STATUS_NULL_ARGUMENT, "null out");
  EXPECT(jitp_bundle_from_bytes(NULL, 3, &b) == JITP_STATUS_NULL_ARGUMENT, "null bytes");
  EXPECT(jitp_bundle_from_file("\xff\xfe.jitb", &b) == JITP_STATUS_INVALID_UTF8, "utf-8 path");
  EXPECT(jitp_bundle_from_file("/nonexistent/x.jitb", &b) == JITP_STATUS_BUNDLE_ERROR, "missing file");
  EXPECT(strstr(jitp_last_error(), "x.jitb") != NULL, "missing file is named");
  EXPECT(jitp_bundle_from_file(bundle, &b) == JITP_STATUS_OK, "load");
  EXPECT(*jitp_last_error() == '\0', "success clears the error");
  char buf[4096];
  size_t n = 0;
  char *s = NULL;
  EXPECT(jitp_decide(NULL, "{}", 2, buf, sizeof buf, &n) == JITP_STATUS_NULL_ARGUMENT, "null bundle");
  EXPECT(jitp_decide(b, NULL, 2, buf, sizeof buf, &n) == JITP_STATUS_NULL_ARGUMENT, "null request");
  EXPECT(jitp_decide(b, "{}", 2, buf, sizeof buf, NULL) == JITP_STATUS_NULL_ARGUMENT, "null out_len");
  EXPECT(jitp_decide_alloc(b, "{}", 2, NULL) == JITP_STATUS_NULL_ARGUMENT, "null out string");
  EXPECT(jitp_decide(b, "\"\xc3\x28\"", 4, buf, sizeof buf, &n) == JITP_STATUS_INVALID_UTF8, "bad utf-8");
  EXPECT(jitp_decide(b, "{nope", 5, buf, sizeof buf, &n) == JITP_STATUS_REQUEST_ERROR, "not json");
  EXPECT(strstr(jitp_last_error(), "not valid JSON") != NULL, "not json message");
  EXPECT(jitp_decide_alloc(b, "{nope", 5, &s) == JITP_STATUS_REQUEST_ERROR && s == NULL, "alloc not json");
  /* JSON, but not a request of the schema: decided, a deny. */
  EXPECT(jitp_decide(b, "{}", 2, buf, sizeof buf, &n) == JITP_STATUS_OK, "schema error is decided");
  EXPECT(strstr(buf, "\"invalid_request\"") != NULL && strlen(buf) == n, "invalid_request");
  size_t empty_len = n;
  /* A repeated key is refused, not last-one-wins. */
  EXPECT(jitp_decide(b, "{\"now\":1,\"now\":2}", 17, buf, sizeof buf, &n) == JITP_STATUS_OK, "dup");
  EXPECT(strstr(buf, "invalid_request") != NULL, "duplicate key denies");
  size_t need = 0;
  EXPECT(jitp_decide(b, "{}", 2, NULL, 0, &need) == JITP_STATUS_BUFFER_TOO_SMALL && need == empty_len,
         "length query");
  char tiny[4] = "abc";
  EXPECT(jitp_decide(b, "{}", 2, tiny, sizeof tiny, &need) == JITP_STATUS_BUFFER_TOO_SMALL, "small");
  EXPECT(strcmp(tiny, "abc") == 0, "a small buffer is left untouched");
  EXPECT(jitp_decide(b, "{}", 2, buf, empty_len, &need) == JITP_STATUS_BUFFER_TOO_SMALL, "no room for NUL");
  EXPECT(jitp_decide(b, "{}", 2, buf, empty_len + 1, &need) == JITP_STATUS_OK, "exact fit");
  jitp_bundle_free(b);
  jitp_bundle_free(NULL);
  jitp_string_free(NULL);
  EXPECT(strlen(jitp_version()) > 0, "version");
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "decide") == 0) return cmd_decide(argc, argv);
  if (argc == 3 && strcmp(argv[1], "corrupt") == 0) return cmd_corrupt(argv[2]);
  if (argc >= 4 && strcmp(argv[1], "threads") == 0) return cmd_threads(argc, argv);
  if (argc == 5 && strcmp(argv[1], "loop") == 0) return cmd_loop(argv[2], argv[3], atol(argv[4]));
  if (argc == 3 && strcmp(argv[1], "errors") == 0) return cmd_errors(argv[2]);
  fprintf(stderr, "usage: decide_test decide|corrupt|threads|loop|errors ...\n");
  return 2;
}
