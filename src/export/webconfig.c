/*
 * webconfig.c — `twkit export --web-config FILE`: TLS and basic auth
 * configured the way every Go exporter configures them, in the format of
 * Prometheus' exporter-toolkit (web-config.yml), read with libyaml:
 *
 *   tls_server_config:
 *     cert_file: server.crt        # PEM; relative to the file's directory
 *     key_file: server.key
 *     min_version: TLS12           # TLS10..TLS13 (default TLS12)
 *     max_version: TLS13
 *     client_auth_type: NoClientCert
 *   http_server_config:
 *     http2: true                  # accepted; twkit serves HTTP/1.1
 *     headers:                     # the five exporter-toolkit allows
 *       Strict-Transport-Security: max-age=31536000
 *   basic_auth_users:
 *     alice: $2y$10$...            # bcrypt (htpasswd -nbBC 10 alice PASS)
 *
 * What exporter-toolkit accepts but twkit cannot do (client certificates,
 * cipher suite and curve lists, rate limits) is refused with the key's
 * name, never silently ignored: a config that asks for client certificate
 * checks must not start without them.
 *
 * Passwords are checked with crypt(3) from libxcrypt, which knows bcrypt
 * ($2a$, $2b$, $2y$).  A bcrypt check costs tens of milliseconds by
 * design, so, as exporter-toolkit does, a successful check is remembered
 * by the SHA-256 of (user, password, hash), and an unknown user costs a
 * bcrypt too (no timing difference tells which users exist).
 */
#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "export.h"
#include "twx/file.h"

#define CFG_MAX_BYTES (1u << 20)
#define PEM_MAX_BYTES (1u << 20)
#define CACHE_SLOTS 64

struct exp_auth_cache {
    pthread_mutex_t mu;
    unsigned char key[CACHE_SLOTS][32];
    bool used[CACHE_SLOTS];
    unsigned next;
};

struct ctx {
    yaml_document_t *doc;
    int tls_lo, tls_hi;     /* min_version, max_version: 0 = TLS 1.0 .. 3 = TLS 1.3 */
    const char *dir;
    struct exp_webcfg *cfg;
    char *err;
    size_t errlen;
};

/* Why twx_read_file could not read path: its -EINVAL means "not a regular
 * file", which strerror calls "Invalid argument". */
static const char *read_why(const char *path, int e)
{
    struct stat st;
    if (e == -EFBIG)
        return "larger than 1 MiB";
    if (e == -EINVAL)
        return !stat(path, &st) && S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file";
    return strerror(-e);
}

static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        snprintf(c->err, c->errlen, "line %zu: %s", n->start_mark.line + 1, msg);
    else
        snprintf(c->err, c->errlen, "%s", msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar that is YAML's null ("", "~", "null"). */
static bool is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);
    return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
            !strcmp(s, "NULL"));
}

static int want_map(struct ctx *c, const yaml_node_t *n, const char *what)
{
    if (n->type == YAML_MAPPING_NODE || is_null(n))
        return 0;
    return fail(c, n, "%s must be a mapping", what);
}

static int want_str(struct ctx *c, const yaml_node_t *n, const char *key, const char **out)
{
    if (!(*out = scalar(n)))
        return fail(c, n, "%s must be a string", key);
    return 0;
}

static int want_bool(struct ctx *c, const yaml_node_t *n, const char *key)
{
    const char *s = scalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "false")))
        return 0;
    return fail(c, n, "%s must be true or false", key);
}

/* Read a PEM file named in the config (relative to its directory). */
static int read_pem(struct ctx *c, const yaml_node_t *n, const char *key, char **out)
{
    const char *name;
    if (want_str(c, n, key, &name))
        return -1;
    if (!*name)
        return 0;
    char path[4096];
    if (name[0] == '/' || !c->dir)
        snprintf(path, sizeof(path), "%s", name);
    else
        snprintf(path, sizeof(path), "%s/%s", c->dir, name);
    size_t len;
    int e = twx_read_file(path, PEM_MAX_BYTES, out, &len);
    if (e)
        return fail(c, n, "%s %s: %s", key, path, read_why(path, e));
    return 0;
}

static int tls_version(struct ctx *c, const yaml_node_t *n, const char *key, int *v)
{
    static const char *const names[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
    const char *s;
    if (want_str(c, n, key, &s))
        return -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *v = i;
            return 0;
        }
    return fail(c, n, "%s: '%s' is not TLS10, TLS11, TLS12 or TLS13", key, s);
}

/*
 * Call fn for each key: value pair of a mapping (none for a null); the
 * first error stops.  A key given twice is refused, as Go's strict YAML
 * decoding in exporter-toolkit refuses it.
 */
typedef int (*pair_fn)(struct ctx *c, const char *key, const yaml_node_t *k, const yaml_node_t *v);

static int each_pair(struct ctx *c, const yaml_node_t *map, pair_fn fn)
{
    if (map->type != YAML_MAPPING_NODE)
        return 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const char *key = scalar(k);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; key && q < p; q++) {
            const char *prev = scalar(yaml_document_get_node(c->doc, q->key));
            if (prev && !strcmp(prev, key))
                return fail(c, k, "%s is given twice", key);
        }
        int e = fn(c, key, k, yaml_document_get_node(c->doc, p->value));
        if (e)
            return e;
    }
    return 0;
}

static int tls_pair(struct ctx *c, const char *key, const yaml_node_t *k, const yaml_node_t *v)
{
    if (!key)
        return fail(c, k, "tls_server_config: keys must be strings");
    if (!strcmp(key, "cert_file"))
        return read_pem(c, v, key, &c->cfg->cert_pem);
    if (!strcmp(key, "key_file"))
        return read_pem(c, v, key, &c->cfg->key_pem);
    if (!strcmp(key, "min_version"))
        return tls_version(c, v, key, &c->tls_lo);
    if (!strcmp(key, "max_version"))
        return tls_version(c, v, key, &c->tls_hi);
    if (!strcmp(key, "client_auth_type")) {
        const char *s;
        if (want_str(c, v, key, &s))
            return -1;
        if (*s && strcmp(s, "NoClientCert"))
            return fail(c, v, "client_auth_type %s: twkit export does not check client "
                              "certificates (only NoClientCert)", s);
        return 0;
    }
    if (!strcmp(key, "prefer_server_cipher_suites"))
        return want_bool(c, v, key);
    if (is_null(v) || (v->type == YAML_SEQUENCE_NODE &&
                       v->data.sequence.items.start == v->data.sequence.items.top))
        return 0; /* an empty setting asks for nothing */
    return fail(c, k, "tls_server_config.%s is not supported by twkit export", key);
}

static int tls_section(struct ctx *c, const yaml_node_t *map)
{
    c->tls_lo = 2, c->tls_hi = 3; /* TLS 1.2 .. 1.3, exporter-toolkit's default minimum */
    if (each_pair(c, map, tls_pair))
        return -1;
    if (!c->cfg->cert_pem != !c->cfg->key_pem)
        return fail(c, map, "tls_server_config needs both cert_file and key_file");
    if (c->tls_lo > c->tls_hi)
        return fail(c, map, "tls_server_config: min_version is above max_version");
    static const char *const vers[] = {"+VERS-TLS1.0", "+VERS-TLS1.1", "+VERS-TLS1.2",
                                       "+VERS-TLS1.3"};
    char prio[160] = "NORMAL:-VERS-ALL";
    for (int i = c->tls_lo; i <= c->tls_hi; i++)
        snprintf(prio + strlen(prio), sizeof(prio) - strlen(prio), ":%s", vers[i]);
    if (!(c->cfg->priorities = strdup(prio)))
        return fail(c, NULL, "out of memory");
    return 0;
}

/* The response headers exporter-toolkit lets a config set. */
static const char *const allowed_headers[] = {
    "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
    "X-XSS-Protection",          "Content-Security-Policy",
};

static int header_pair(struct ctx *c, const char *name, const yaml_node_t *k, const yaml_node_t *v)
{
    const char *val = scalar(v);
    bool ok = false;
    for (size_t i = 0; name && i < sizeof(allowed_headers) / sizeof(*allowed_headers); i++)
        ok |= !strcasecmp(name, allowed_headers[i]);
    if (!ok)
        return fail(c, k, "header %s cannot be set (exporter-toolkit allows "
                          "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, "
                          "X-XSS-Protection, Content-Security-Policy)", name ? name : "?");
    if (!val || strpbrk(val, "\r\n"))
        return fail(c, v, "header %s: the value must be one line of text", name);
    struct exp_header *nh = realloc(c->cfg->headers, (c->cfg->n_headers + 1) * sizeof(*nh));
    if (!nh)
        return fail(c, NULL, "out of memory");
    c->cfg->headers = nh;
    nh += c->cfg->n_headers++;
    nh->name = strdup(name);
    nh->value = strdup(val);
    return nh->name && nh->value ? 0 : fail(c, NULL, "out of memory");
}

static int http_pair(struct ctx *c, const char *key, const yaml_node_t *k, const yaml_node_t *v)
{
    if (key && !strcmp(key, "http2"))
        return want_bool(c, v, key);
    if (key && !strcmp(key, "headers"))
        return want_map(c, v, "http_server_config.headers") ? -1 : each_pair(c, v, header_pair);
    if (is_null(v))
        return 0;
    return fail(c, k, "http_server_config.%s is not supported by twkit export", key ? key : "?");
}

static bool bcrypt_like(const char *h)
{
    return strlen(h) == 60 && h[0] == '$' && h[1] == '2' && strchr("aby", h[2]) && h[3] == '$' &&
           h[6] == '$';
}

static int user_pair(struct ctx *c, const char *user, const yaml_node_t *k, const yaml_node_t *v)
{
    const char *hash = scalar(v);
    if (!user || !*user || strchr(user, ':'))
        return fail(c, k, "basic_auth_users: a user name must be a non-empty string without ':'");
    if (!hash || !bcrypt_like(hash))
        return fail(c, v, "basic_auth_users.%s: not a bcrypt hash ($2a$, $2b$ or $2y$, "
                          "60 characters; make one with htpasswd -nbBC 10 USER PASS)", user);
    struct exp_user *nu = realloc(c->cfg->users, (c->cfg->n_users + 1) * sizeof(*nu));
    if (!nu)
        return fail(c, NULL, "out of memory");
    c->cfg->users = nu;
    nu += c->cfg->n_users++;
    nu->name = strdup(user);
    nu->hash = strdup(hash);
    return nu->name && nu->hash ? 0 : fail(c, NULL, "out of memory");
}

static int root_pair(struct ctx *c, const char *key, const yaml_node_t *k, const yaml_node_t *v)
{
    if (!key)
        return fail(c, k, "keys must be strings");
    if (!strcmp(key, "tls_server_config"))
        return want_map(c, v, key) ? -1 : tls_section(c, v);
    if (!strcmp(key, "http_server_config"))
        return want_map(c, v, key) ? -1 : each_pair(c, v, http_pair);
    if (!strcmp(key, "basic_auth_users"))
        return want_map(c, v, key) ? -1 : each_pair(c, v, user_pair);
    if (is_null(v))
        return 0;
    return fail(c, k, "%s is not a web config setting twkit export knows", key);
}

/* The certificate and key parse and belong together (before the server starts). */
static int check_tls(struct ctx *c)
{
    if (!c->cfg->cert_pem)
        return 0;
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return fail(c, NULL, "out of memory");
    gnutls_datum_t cert = {(unsigned char *)c->cfg->cert_pem, (unsigned)strlen(c->cfg->cert_pem)};
    gnutls_datum_t key = {(unsigned char *)c->cfg->key_pem, (unsigned)strlen(c->cfg->key_pem)};
    int e = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (e < 0)
        return fail(c, NULL, "tls_server_config: the certificate and key do not load: %s",
                    gnutls_strerror(e));
    return 0;
}

int exp_webcfg_parse(const char *text, size_t len, const char *dir, struct exp_webcfg *cfg,
                     char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    yaml_parser_t parser;
    yaml_document_t doc;
    struct ctx c = {.doc = &doc, .dir = dir, .cfg = cfg, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&parser))
        return fail(&c, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "line %zu: %s", parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "not YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    int e = 0;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !is_null(root))
        e = root->type == YAML_MAPPING_NODE ? each_pair(&c, root, root_pair)
                                            : fail(&c, root, "the web config must be a mapping");
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (!e)
        e = check_tls(&c);
    if (!e && cfg->n_users) {
        if (!(cfg->cache = calloc(1, sizeof(*cfg->cache))))
            e = fail(&c, NULL, "out of memory");
        else
            pthread_mutex_init(&cfg->cache->mu, NULL);
    }
    if (e)
        exp_webcfg_free(cfg);
    return e;
}

int exp_webcfg_load(const char *path, struct exp_webcfg *cfg, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int e = twx_read_file(path, CFG_MAX_BYTES, &text, &len);
    if (e) {
        memset(cfg, 0, sizeof(*cfg));
        snprintf(err, errlen, "%s", read_why(path, e));
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char msg[512];
    e = exp_webcfg_parse(text, len, dirname(dir), cfg, msg, sizeof(msg));
    free(text);
    if (e)
        snprintf(err, errlen, "%s", msg);
    return e;
}

void exp_webcfg_free(struct exp_webcfg *cfg)
{
    free(cfg->cert_pem);
    free(cfg->key_pem);
    free(cfg->priorities);
    for (size_t i = 0; i < cfg->n_users; i++) {
        free(cfg->users[i].name);
        free(cfg->users[i].hash);
    }
    free(cfg->users);
    for (size_t i = 0; i < cfg->n_headers; i++) {
        free(cfg->headers[i].name);
        free(cfg->headers[i].value);
    }
    free(cfg->headers);
    if (cfg->cache) {
        pthread_mutex_destroy(&cfg->cache->mu);
        free(cfg->cache);
    }
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- checking a password ------------------------------------------------------------ */

/* Equal strings of equal length, in time that does not depend on where they differ. */
static bool same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static void cache_key(const char *user, const char *pass, const char *hash, unsigned char out[32])
{
    size_t lu = strlen(user) + 1, lp = strlen(pass) + 1, lh = strlen(hash);
    char *buf = malloc(lu + lp + lh);
    if (!buf) {
        memset(out, 0, 32);
        return;
    }
    memcpy(buf, user, lu);
    memcpy(buf + lu, pass, lp);
    memcpy(buf + lu + lp, hash, lh);
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, lu + lp + lh, out) < 0)
        memset(out, 0, 32);
    free(buf);
}

bool exp_webcfg_auth(struct exp_webcfg *cfg, const char *user, const char *pass)
{
    /* A cost-10 hash of nothing anyone knows: an unknown user costs the same. */
    static const char dummy[] = "$2b$10$c2FsdHNhbHRzYWx0c2FsdOKyM8bJ2vkrtj1tZ4Y1EEtqnEYrZ3C1W";
    const struct exp_user *u = NULL;
    for (size_t i = 0; i < cfg->n_users; i++)
        if (same(cfg->users[i].name, user))
            u = &cfg->users[i];
    const char *hash = u ? u->hash : dummy;
    unsigned char key[32];
    cache_key(user, pass, hash, key);
    struct exp_auth_cache *c = cfg->cache;
    if (u && c) {
        bool hit = false;
        pthread_mutex_lock(&c->mu);
        for (unsigned i = 0; i < CACHE_SLOTS && !hit; i++)
            hit = c->used[i] && !memcmp(c->key[i], key, 32);
        pthread_mutex_unlock(&c->mu);
        if (hit)
            return true;
    }
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return false;
    const char *h = crypt_r(pass, hash, cd);
    bool ok = u && h && h[0] != '*' && same(h, hash);
    free(cd);
    if (ok && c) {
        pthread_mutex_lock(&c->mu);
        memcpy(c->key[c->next], key, 32);
        c->used[c->next] = true;
        c->next = (c->next + 1) % CACHE_SLOTS;
        pthread_mutex_unlock(&c->mu);
    }
    return ok;
}
