/* Test-vector generator shared by wsb_tool (writes vectors/vectors.json) and
 * the C unit tests (check that the committed file matches the C core). */
#ifndef WSB_VECTORS_H
#define WSB_VECTORS_H

#include <stddef.h>

/* Writes the vectors as JSON into out (NUL-terminated). Returns the length, or 0
 * if out is too small. */
size_t wsb_vectors_json(char *out, size_t cap);

#endif
