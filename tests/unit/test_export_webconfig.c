/*
 * test_export_webconfig.c — `twkit export --web-config`: the
 * exporter-toolkit web-config.yml reader and the bcrypt password check
 * (src/export/webconfig.c, included directly).
 *
 * Good files give exactly the settings they state; every setting twkit
 * cannot honour, every malformed value and every YAML error is refused
 * with the line it is on; passwords are checked against hashes made here
 * with libxcrypt, in the three bcrypt spellings ($2a$, $2b$, $2y$).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/export/webconfig.c"
#include "../tmpdir.h"

#define FIX "tests/fixtures/export"

static char err[512];

static int parse(const char *yaml, struct exp_webcfg *cfg)
{
    err[0] = '\0';
    return exp_webcfg_parse(yaml, strlen(yaml), FIX, cfg, err, sizeof(err));
}

/* A bcrypt hash of pass, cost 4 (fast for tests), in the spelling v ('a', 'b', 'y'). */
static char *hash(const char *pass, char v)
{
    char setting[64];
    cr_assert_not_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof(setting)));
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    const char *h = crypt_r(pass, setting, &cd);
    cr_assert(h && h[0] == '$');
    char *out = strdup(h);
    out[2] = v;
    return out;
}

static void refused(const char *yaml, const char *want)
{
    struct exp_webcfg cfg;
    cr_expect_eq(parse(yaml, &cfg), -1, "accepted: %s", yaml);
    cr_expect(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
    cr_expect_null(cfg.users, "nothing is left after a refusal");
}

Test(webconfig, empty_and_null_configs_ask_for_nothing)
{
    const char *docs[] = {"", "---\n", "~\n", "tls_server_config:\nbasic_auth_users:\n",
                          "# only a comment\n"};
    for (size_t i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
        struct exp_webcfg cfg;
        cr_expect_eq(parse(docs[i], &cfg), 0, "%s: %s", docs[i], err);
        cr_expect_null(cfg.cert_pem);
        cr_expect_eq(cfg.n_users, 0);
        exp_webcfg_free(&cfg);
    }
}

Test(webconfig, tls_users_and_headers)
{
    char *h = hash("s3cret", 'y');
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "tls_server_config:\n"
             "  cert_file: server.crt\n"
             "  key_file: server.key\n"
             "  min_version: TLS13\n"
             "  client_auth_type: NoClientCert\n"
             "  cipher_suites: []\n"
             "http_server_config:\n"
             "  http2: true\n"
             "  headers:\n"
             "    Strict-Transport-Security: max-age=31536000\n"
             "    x-frame-options: DENY\n"
             "basic_auth_users:\n"
             "  alice: '%s'\n"
             "  bob: %s\n",
             h, h);
    struct exp_webcfg cfg;
    cr_assert_eq(parse(yaml, &cfg), 0, "%s", err);
    cr_expect(cfg.cert_pem && strstr(cfg.cert_pem, "BEGIN CERTIFICATE"));
    cr_expect(cfg.key_pem && strstr(cfg.key_pem, "PRIVATE KEY"));
    cr_expect_str_eq(cfg.priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
    cr_assert_eq(cfg.n_users, 2);
    cr_expect_str_eq(cfg.users[0].name, "alice");
    cr_expect_str_eq(cfg.users[1].hash, h);
    cr_assert_eq(cfg.n_headers, 2);
    cr_expect_str_eq(cfg.headers[1].name, "x-frame-options");
    cr_expect_str_eq(cfg.headers[1].value, "DENY");
    exp_webcfg_free(&cfg);
    free(h);
}

Test(webconfig, default_tls_versions_are_12_and_13)
{
    struct exp_webcfg cfg;
    cr_assert_eq(parse("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n", &cfg),
                 0, "%s", err);
    cr_expect_str_eq(cfg.priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3");
    exp_webcfg_free(&cfg);
}

Test(webconfig, refusals_name_the_line)
{
    refused("tls_server_config:\n  cert_file: server.crt\n", "needs both cert_file and key_file");
    refused("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
            "do not load");
    refused("tls_server_config:\n  cert_file: nowhere.crt\n  key_file: server.key\n",
            "line 2: cert_file tests/fixtures/export/nowhere.crt: No such file");
    refused("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  client_auth_type: RequireAndVerifyClientCert\n",
            "line 4: client_auth_type RequireAndVerifyClientCert: twkit export does not check");
    refused("tls_server_config:\n  client_ca_file: ca.crt\n",
            "line 2: tls_server_config.client_ca_file is not supported");
    refused("tls_server_config:\n  min_version: TLS14\n", "line 2: min_version: 'TLS14'");
    refused("tls_server_config:\n  min_version: TLS13\n  max_version: TLS12\n",
            "min_version is above max_version");
    refused("basic_auth_users:\n  alice: secret\n", "line 2: basic_auth_users.alice: not a bcrypt");
    refused("basic_auth_users:\n  'a:b': $2y$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n",
            "without ':'");
    refused("http_server_config:\n  headers:\n    Content-Type: text/html\n",
            "line 3: header Content-Type cannot be set");
    refused("http_server_config:\n  headers:\n    X-Frame-Options: \"DENY\\r\\nX-Evil: 1\"\n",
            "line 3: header X-Frame-Options: the value must be one line");
    refused("http_server_config:\n  http2: maybe\n", "http2 must be true or false");
    refused("rate_limit:\n  interval: 1s\n", "line 1: rate_limit is not a web config setting");
    refused("- a\n- b\n", "must be a mapping");
    refused("tls_server_config: [1, 2]\n", "tls_server_config must be a mapping");
    refused("basic_auth_users:\n  alice: [\n", "line 3:");
}

Test(webconfig, a_user_given_twice_is_refused)
{
    char *h = hash("x", 'b');
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  alice: %s\n  alice: %s\n", h, h);
    refused(yaml, "line 3: alice is given twice");
    refused("tls_server_config:\n  min_version: TLS12\ntls_server_config:\n  min_version: TLS13\n",
            "line 3: tls_server_config is given twice");
    refused("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  cert_file: server.crt\n",
            "line 4: cert_file is given twice");
    free(h);
}

Test(webconfig, load_reads_relative_names_from_the_files_directory)
{
    char dir[256], path[512], sub[300];
    cr_assert_not_null(tw_test_tmpdir(dir, sizeof(dir), "webcfg"));
    snprintf(sub, sizeof(sub), "%s/conf", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    char cwd[4096];
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    snprintf(path, sizeof(path), "%s/conf/web.yml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "tls_server_config:\n  cert_file: ../c.crt\n  key_file: %s/" FIX "/server.key\n", cwd);
    fclose(f);
    char src[4200], dst[320];
    snprintf(src, sizeof(src), "%s/" FIX "/server.crt", cwd);
    snprintf(dst, sizeof(dst), "%s/c.crt", dir);
    cr_assert_eq(symlink(src, dst), 0);
    struct exp_webcfg cfg;
    cr_expect_eq(exp_webcfg_load(path, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_not_null(cfg.cert_pem);
    exp_webcfg_free(&cfg);
    cr_expect_eq(exp_webcfg_load("/nonexistent/web.yml", &cfg, err, sizeof(err)), -1);
    cr_expect(strstr(err, "No such file") != NULL, "%s", err);
    tw_test_rmtree(dir);
}

Test(webconfig, passwords)
{
    char *ha = hash("alice-pw", 'a'), *hb = hash("bob-pw", 'b'), *hy = hash("carol:pw", 'y');
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  alice: %s\n  bob: %s\n  carol: %s\n", ha,
             hb, hy);
    struct exp_webcfg cfg;
    cr_assert_eq(parse(yaml, &cfg), 0, "%s", err);
    for (int round = 0; round < 2; round++) { /* the second round answers from the cache */
        cr_expect(exp_webcfg_auth(&cfg, "alice", "alice-pw"));
        cr_expect(exp_webcfg_auth(&cfg, "bob", "bob-pw"));
        cr_expect(exp_webcfg_auth(&cfg, "carol", "carol:pw"));
        cr_expect(!exp_webcfg_auth(&cfg, "alice", "bob-pw"));
        cr_expect(!exp_webcfg_auth(&cfg, "bob", "alice-pw"));
        cr_expect(!exp_webcfg_auth(&cfg, "alice", "alice-pw "));
        cr_expect(!exp_webcfg_auth(&cfg, "alice", ""));
        cr_expect(!exp_webcfg_auth(&cfg, "mallory", "alice-pw"));
        cr_expect(!exp_webcfg_auth(&cfg, "", ""));
        cr_expect(!exp_webcfg_auth(&cfg, "alic", "alice-pw"));
    }
    exp_webcfg_free(&cfg);
    free(ha);
    free(hb);
    free(hy);
}

Test(webconfig, the_unknown_user_hash_costs_a_real_bcrypt)
{
    /* crypt_r refuses a malformed setting with "*0" at once; this one must be a full bcrypt */
    static const char dummy[] = "$2b$10$c2FsdHNhbHRzYWx0c2FsdOKyM8bJ2vkrtj1tZ4Y1EEtqnEYrZ3C1W";
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    const char *h = crypt_r("anything", dummy, &cd);
    cr_assert_not_null(h);
    cr_expect_eq(h[0], '$', "the dummy hash is not a valid bcrypt setting: %s", h);
    cr_expect_eq(strncmp(h, dummy, 29), 0);
}
