/* A minimal embedding of libjitp: decide one request before acting on it.
 *
 *   cc -I bindings/c/include examples/c/guard.c -L target/release -ljitp \
 *      -Wl,-rpath,target/release -o guard
 *   ./guard policy.jitb request.json
 *
 * Prints the decision JSON; exit status 0 for allow, 1 for deny, 2 for
 * step_up (the `needs` say what evidence to gather before retrying), 3 for
 * an error (the message from jitp_last_error on stderr). */
#include "jitp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: guard BUNDLE.jitb REQUEST.json\n");
    return 3;
  }
  JitpBundle *bundle = NULL;
  if (jitp_bundle_from_file(argv[1], &bundle) != JITP_STATUS_OK) {
    fprintf(stderr, "error: %s\n", jitp_last_error());
    return 3;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    fprintf(stderr, "error: cannot open `%s`\n", argv[2]);
    jitp_bundle_free(bundle);
    return 3;
  }
  static char request[1 << 20];
  size_t len = fread(request, 1, sizeof request, f);
  fclose(f);

  char *decision = NULL;
  JitpStatus status = jitp_decide_alloc(bundle, request, len, &decision);
  jitp_bundle_free(bundle);
  if (status != JITP_STATUS_OK) {
    fprintf(stderr, "error: %s\n", jitp_last_error());
    return 3;
  }
  printf("%s\n", decision);
  int code = strstr(decision, "\"decision\":\"allow\"")     ? 0
             : strstr(decision, "\"decision\":\"step_up\"") ? 2
                                                            : 1;
  jitp_string_free(decision);
  return code;
}
