/*
 * twx/text.h — text for human views (internal tier).  Every string that
 * comes from outside twkit (process names, namespace names, paths, peers'
 * HTTP fields) goes through twx_esc before a human view prints it: an
 * unprivileged user can name a process "x\e[2J" and twkit often runs as
 * root on a terminal.  JSON and Prometheus output escape in their own
 * writers and take the raw string.
 */
#ifndef TWX_TEXT_H
#define TWX_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Copy s into buf for a terminal: printable ASCII and valid UTF-8
 * sequences of printable characters are kept; a backslash becomes "\\";
 * control characters (C0, DEL, C1) and bytes that are not valid UTF-8
 * become "\xNN".  Nothing is cut: if buf is too small the result is
 * shortened at a character boundary and ends in "..." — size buf with
 * twx_esc_len to avoid that.  Returns buf.
 */
char *twx_esc(char *buf, size_t len, const char *s);
/* Bytes twx_esc needs for s, the final NUL included. */
size_t twx_esc_len(const char *s);
/* twx_esc into a new malloc'd string (free it); NULL when out of memory. */
char *twx_esc_dup(const char *s);

/* ---- numbers for people ---------------------------------------------------- */

#define TWX_NUM_LEN 32 /* holds every uint64_t in the forms below */

/* "28,210": a comma every three digits.  buf holds TWX_NUM_LEN.  Returns buf. */
char *twx_count(char *buf, uint64_t v);
/* "512 B", "6.9 MiB": binary units with one decimal, the unit chosen after
 * rounding (never "1024.0 KiB").  buf holds TWX_NUM_LEN.  Returns buf. */
char *twx_bytes(char *buf, uint64_t v);
/* one when n is 1, else many: "1 socket", "2 sockets". */
static inline const char *twx_plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* ---- layout --------------------------------------------------------------- */

/*
 * Columns s takes on a terminal: one per character (UTF-8 sequence), none
 * for the colour sequences views write themselves (ESC [ ... m).  Strings
 * from outside have been through twx_esc, so they hold no ESC of their own.
 */
size_t twx_width(const char *s);
/* Write s, then spaces up to width columns (nothing is cut when s is wider). */
void twx_pad(FILE *f, const char *s, size_t width);

/*
 * A paragraph that wraps at a width instead of running past it: pieces
 * are written one after another, separated by sep (not at the start of a
 * line); a piece that does not fit goes to the next line, indented by
 * cont columns.  A piece wider than a whole line is written whole on a line
 * of its own, never cut.  Used for view lines whose length depends on
 * values (ranges, lists of counts, names).
 */
struct twx_flow {
    FILE *f;
    size_t width;  /* columns per line, 80 for the views */
    size_t indent; /* columns before the first piece */
    size_t cont;   /* columns before the first piece of each next line */
    size_t col;    /* current column */
    bool fresh;    /* nothing written on this line yet */
};

void twx_flow_begin(struct twx_flow *w, FILE *f, size_t width, size_t indent, size_t cont);
void twx_flow_put(struct twx_flow *w, const char *sep, const char *piece);
/* Each space-separated word of text as a piece (a sentence that wraps). */
void twx_flow_words(struct twx_flow *w, const char *text);
/* printf-style piece. */
void twx_flow_putf(struct twx_flow *w, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* End the paragraph (a newline if anything is on the line). */
void twx_flow_end(struct twx_flow *w);

#endif /* TWX_TEXT_H */
