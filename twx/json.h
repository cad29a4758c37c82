/*
 * twx/json.h — the one JSON writer of twkit (internal tier; not installed).
 * Every JSON twkit prints — --json views, NDJSON streams, the messages the
 * lab's processes exchange — goes through it, so escaping, commas and
 * number formats are right in one place.  It streams to a FILE (use
 * open_memstream for a string) and tracks nesting so that a renderer emits
 * each field once, in order.  Strings are escaped per RFC 8259; bytes that
 * are not valid UTF-8 are passed through (the caller sanitises names).
 * Non-finite doubles are written as null.  Nesting deeper than 31 levels
 * is not supported.
 *
 * pretty = true indents with two spaces; false writes one line, which with
 * twx_json_end's newline makes NDJSON.
 */
#ifndef TWX_JSON_H
#define TWX_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct twx_json {
    FILE *f;
    int depth;
    bool first[32];  /* no member written yet at this depth */
    bool pretty;
};

void twx_json_init(struct twx_json *j, FILE *f, bool pretty);
void twx_json_obj_begin(struct twx_json *j, const char *key); /* key NULL inside arrays / at top */
void twx_json_obj_end(struct twx_json *j);
void twx_json_arr_begin(struct twx_json *j, const char *key);
void twx_json_arr_end(struct twx_json *j);
void twx_json_str(struct twx_json *j, const char *key, const char *v); /* v NULL -> null */
void twx_json_u64(struct twx_json *j, const char *key, uint64_t v);
void twx_json_i64(struct twx_json *j, const char *key, int64_t v);
void twx_json_f64(struct twx_json *j, const char *key, double v, int decimals);
void twx_json_bool(struct twx_json *j, const char *key, bool v);
void twx_json_null(struct twx_json *j, const char *key);
void twx_json_end(struct twx_json *j); /* final newline */

#endif
