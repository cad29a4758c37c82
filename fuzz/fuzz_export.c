/*
 * fuzz_export.c — libFuzzer harness for what `twkit export` parses from
 * outside: the Accept header of every scrape (src/metrics.c, from the
 * network) and the web-config.yml (src/export/webconfig.c, libyaml).
 *
 * The first byte picks the target.  Besides "no crash, no over-read"
 * (ASan): negotiation always gives one of the two formats and never
 * depends on what follows a NUL; a web config is either refused with a
 * reason or accepted, and an accepted one holds only bcrypt-shaped hashes,
 * allowed headers without line breaks, and a priority string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/export/webconfig.c"
#include "../src/metrics.c"

/* metrics.c's table lives in metrics_emit.c; the negotiation needs none of it */
const struct metric_def metric_defs[1];
const size_t metric_ndefs = 0;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, body, n);
    s[n] = '\0';
    if (data[0] & 1) {
        enum metric_format f = metrics_negotiate(s);
        if (f != METRIC_TEXT && f != METRIC_OPENMETRICS)
            abort();
    } else {
        struct exp_webcfg cfg;
        char err[512];
        if (exp_webcfg_parse(s, n, NULL, &cfg, err, sizeof(err)) == 0) {
            for (size_t i = 0; i < cfg.n_users; i++)
                if (!bcrypt_like(cfg.users[i].hash))
                    abort();
            for (size_t i = 0; i < cfg.n_headers; i++)
                if (strpbrk(cfg.headers[i].value, "\r\n"))
                    abort();
            if (cfg.cert_pem && !cfg.priorities)
                abort();
            exp_webcfg_free(&cfg);
        } else if (!err[0]) {
            abort(); /* a refusal always says why */
        }
    }
    free(s);
    return 0;
}
