/*
 * twx/opt.h — one table per command drives option parsing, --help and the
 * OPTIONS section of the man page (internal tier; not installed).
 *
 * A command is a `struct twx_cmd`: its name, synopsis, help paragraph,
 * examples, exit statuses and a table of `struct twx_opt`.  Every option
 * writes into one field of the command's argument struct, found by its
 * offset, with a fixed C type per option type:
 *
 *   TWX_FLAG    bool          no argument
 *   TWX_UINT    uint64_t      decimal digits only, within [min, max]
 *   TWX_NUM     double        decimal digits with an optional fraction
 *                             ("2", "0.5"; no sign, exponent, hex, inf),
 *                             within [min, max]
 *   TWX_STR     const char *  any non-empty string
 *   TWX_CHOICE  int           index of the value in choices[]
 *   TWX_FN      (any)         fn(field, value, err, errlen) parses it
 *   TWX_HELP    —             prints --help and stops
 *
 * Rules the parser enforces, so that no command has to:
 *   - an option given twice is a usage error unless it has TWX_REPEAT (then
 *     only TWX_FN, whose fn is called once per value: lists);
 *   - options whose `excl` masks share a bit exclude each other
 *     ("--json and --prom exclude each other");
 *   - positional arguments are taken only when the command names them;
 *   - unknown options, missing or unexpected values: a usage error.
 * Usage errors print "twkit: <why>" and "Try 'twkit CMD --help'." on
 * stderr; the caller returns exit status 2.
 *
 * Accepted forms: --name, --name=value, --name value, -x, -xvalue,
 * -x value, grouped short flags (-46), and "--" to end the options.
 * Options and positional arguments may be mixed; long names are never
 * abbreviated.
 *
 * With TWKIT_OPT_CHECK=1 in the environment, a successful parse prints
 * "twkit: options ok" on stderr and the command exits 0 without running
 * (the docs test uses it to prove that every documented option parses).
 */
#ifndef TWX_OPT_H
#define TWX_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum twx_opt_type { TWX_FLAG, TWX_UINT, TWX_NUM, TWX_STR, TWX_CHOICE, TWX_FN, TWX_HELP };

#define TWX_REPEAT 0x1u /* may be given more than once (TWX_FN only) */

/* A custom parser: field points into the argument struct at the option's
 * offset.  Return 0, or -1 with a reason (no option name) in err. */
typedef int (*twx_opt_fn)(void *field, const char *value, char *err, size_t errlen);

struct twx_opt {
    const char *lng;            /* long name without "--" (required) */
    char shrt;                  /* short letter, 0 for none */
    enum twx_opt_type type;
    size_t off;                 /* offsetof(args struct, field) */
    const char *arg;            /* value name in help ("N", "CIDR"); NULL for flags */
    const char *help;           /* one line for --help (no default, no range) */
    const char *doc;            /* man page paragraph (scdoc); NULL: help */
    const char *dflt;           /* default value as shown, NULL: none */
    const char *example;        /* a valid value (docs test); NULL for flags */
    double min, max;            /* TWX_UINT, TWX_NUM */
    const char *const *choices; /* TWX_CHOICE: NULL-terminated */
    twx_opt_fn fn;              /* TWX_FN */
    unsigned excl;              /* options sharing a bit exclude each other */
    unsigned flags;             /* TWX_REPEAT */
};

struct twx_exit {
    int code;
    const char *meaning;
};

struct twx_cmd {
    const char *name;           /* "stat", "lab load" */
    const char *synopsis;       /* after "twkit NAME": "[OPTIONS]" */
    const char *summary;        /* one line: `twkit --help` and the man NAME */
    const char *about;          /* --help paragraph (lines <= 78 columns) */
    const struct twx_opt *opts;
    size_t n_opts;
    size_t args_size;           /* sizeof the argument struct */
    const char *positional;     /* name of positional arguments, NULL: none */
    const char *examples;       /* lines "  twkit ...   what it does\n" */
    const struct twx_exit *exits;
    size_t n_exits;
    const char *man;            /* man page ("twkit-stat"), NULL: twkit */
    int (*run)(int argc, char **argv);
    const struct twx_cmd *const *subs; /* NULL-terminated sub-commands, or NULL */
};

/* What a parse found. */
struct twx_parsed {
    uint64_t given;             /* bit i: opts[i] was given */
    int first_pos;              /* argv index of the first positional argument */
    int npos;                   /* positional arguments: argv[first_pos..] */
};

#define TWX_OPT_CONTINUE (-1)

/*
 * Parse argv (argv[0] is the command name) into args, which the caller has
 * filled with defaults.  argv is reordered so that positional arguments
 * come last.  Returns TWX_OPT_CONTINUE to go on, or an exit status to
 * return at once: 0 after --help (or TWKIT_OPT_CHECK), 2 after a usage
 * error (already printed).
 */
int twx_opt_parse(const struct twx_cmd *cmd, int argc, char **argv, void *args,
                  struct twx_parsed *out);

/* Whether the option with long name lng was given (lng must exist). */
bool twx_opt_given(const struct twx_cmd *cmd, const struct twx_parsed *p, const char *lng);

/* Print --help (stdout) from the table. */
void twx_opt_help(FILE *f, const struct twx_cmd *cmd);
/* Print the man page's OPTIONS entries (scdoc) from the table. */
void twx_opt_man(FILE *f, const struct twx_cmd *cmd);
/* "--json and --prom" style option name: "-j, --json" */
const char *twx_opt_name(const struct twx_opt *o, char *buf, size_t len);

/*
 * Decimal parsers with the rules above, shared with commands that read
 * numbers elsewhere.  Return 0 or -1.
 */
int twx_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int twx_parse_num(const char *s, double min, double max, double *out);

#endif /* TWX_OPT_H */
