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

#include <stddef.h>

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

#endif /* TWX_TEXT_H */
