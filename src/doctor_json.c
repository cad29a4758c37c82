/*
 * doctor_json.c — the JSON view of `twkit doctor` (schema twkit.doctor.v1,
 * documented field by field in docs/doctor-json.md), through twx/json, the
 * one JSON writer.  Evidence that a rule marked numeric becomes a JSON
 * number; everything else a string.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "doctor.h"
#include "twx/json.h"

static void json_evidence(struct twx_json *j, const struct tw_evidence *e)
{
    if (!e->numeric) {
        twx_json_str(j, e->key, e->value);
        return;
    }
    char *end;
    if (strchr(e->value, '.')) {
        double v = strtod(e->value, &end);
        if (*end)
            twx_json_str(j, e->key, e->value);
        else
            twx_json_f64(j, e->key, v, 1);
        return;
    }
    errno = 0;
    long long v = strtoll(e->value, &end, 10);
    if (errno || *end)
        twx_json_str(j, e->key, e->value);
    else
        twx_json_i64(j, e->key, v);
}

int doctor_exit_for(enum tw_severity w)
{
    return w == TW_SEV_CRIT ? 2 : w == TW_SEV_WARN ? 1 : 0;
}

void doctor_render_json(FILE *out, const struct tw_doctor_sample *s,
                        const struct tw_doctor_result *r, const struct doctor_view *v)
{
    struct twx_json j;
    const struct tw_kernel *k = &s->k;
    twx_json_init(&j, out, true);
    twx_json_obj_begin(&j, NULL);
    twx_json_str(&j, "schema", "twkit.doctor.v1");
    twx_json_str(&j, "twkit_version", TW_VERSION);
    twx_json_i64(&j, "time", (int64_t)time(NULL));
    twx_json_str(&j, "namespace", s->label[0] ? s->label : "current");
    twx_json_f64(&j, "sample_seconds", s->seconds, 3);
    if (s->conf_read)
        twx_json_u64(&j, "sysctl_files", s->conf.n_files);
    else
        twx_json_null(&j, "sysctl_files");
    twx_json_str(&j, "worst", tw_severity_name(r->worst));
    twx_json_i64(&j, "exit_code", doctor_exit_for(r->worst));

    twx_json_obj_begin(&j, "kernel");
    twx_json_str(&j, "release", k->release);
    twx_json_i64(&j, "ip_local_port_range_lo", k->port_lo);
    twx_json_i64(&j, "ip_local_port_range_hi", k->port_hi);
    twx_json_i64(&j, "reserved_in_range", k->n_reserved);
    twx_json_i64(&j, "tcp_tw_reuse", k->tw_reuse);
    twx_json_i64(&j, "tcp_tw_reuse_delay", k->tw_reuse_delay_ms);
    twx_json_i64(&j, "tcp_timestamps", k->timestamps);
    twx_json_i64(&j, "tcp_max_tw_buckets", k->max_tw_buckets);
    twx_json_i64(&j, "tcp_fin_timeout", k->fin_timeout);
    twx_json_i64(&j, "tcp_rfc1337", k->rfc1337);
    twx_json_i64(&j, "sockstat_tw", s->tw1);
    twx_json_obj_end(&j);

    twx_json_obj_begin(&j, "rates");
    twx_json_f64(&j, "active_opens_per_s", tw_doctor_connect_rate(s), 1);
    static const struct {
        const char *key;
        enum tw_counter_id id;
    } deltas[] = {
        {"active_opens", TW_C_ACTIVE_OPENS},     {"passive_opens", TW_C_PASSIVE_OPENS},
        {"attempt_fails", TW_C_ATTEMPT_FAILS},   {"estab_resets", TW_C_ESTAB_RESETS},
        {"out_rsts", TW_C_OUT_RSTS},             {"tw", TW_C_TW},
        {"tw_recycled", TW_C_TW_RECYCLED},       {"tw_overflow", TW_C_TW_OVERFLOW},
        {"abort_on_data", TW_C_ABORT_ON_DATA},
    };
    twx_json_obj_begin(&j, "deltas");
    for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++)
        twx_json_u64(&j, deltas[i].key, tw_doctor_delta(s, deltas[i].id));
    twx_json_obj_end(&j);
    twx_json_obj_end(&j);

    twx_json_arr_begin(&j, "findings");
    for (size_t i = 0; i < r->n; i++) {
        const struct tw_finding *f = &r->f[i];
        twx_json_obj_begin(&j, NULL);
        twx_json_str(&j, "id", f->id);
        twx_json_str(&j, "severity", tw_severity_name(f->severity));
        twx_json_str(&j, "summary", f->summary ? f->summary : "");
        twx_json_obj_begin(&j, "evidence");
        for (size_t e = 0; e < f->n_evidence; e++)
            json_evidence(&j, &f->evidence[e]);
        twx_json_obj_end(&j);
        twx_json_str(&j, "explanation", f->explain);
        twx_json_str(&j, "source", f->source);
        twx_json_str(&j, "fix", f->fix ? f->fix : "");
        if (f->has_change) {
            twx_json_obj_begin(&j, "sysctl");
            twx_json_str(&j, "key", f->change.key);
            twx_json_str(&j, "value", f->change.value);
            twx_json_str(&j, "current", f->change.current);
            twx_json_obj_end(&j);
        } else {
            twx_json_null(&j, "sysctl");
        }
        twx_json_obj_end(&j);
    }
    twx_json_arr_end(&j);
    twx_json_arr_begin(&j, "passed");
    for (size_t i = 0; i < r->n_passed; i++)
        twx_json_str(&j, NULL, r->passed[i]);
    twx_json_arr_end(&j);
    twx_json_arr_begin(&j, "sysctl_changes");
    for (size_t i = 0; i < r->n_changes; i++) {
        twx_json_obj_begin(&j, NULL);
        twx_json_str(&j, "key", r->changes[i].key);
        twx_json_str(&j, "value", r->changes[i].value);
        twx_json_str(&j, "current", r->changes[i].current);
        twx_json_str(&j, "finding", r->changes[i].finding);
        twx_json_obj_end(&j);
    }
    twx_json_arr_end(&j);
    const struct doctor_applied *ap = v->applied;
    twx_json_bool(&j, "applied", ap != NULL);
    if (ap) {
        twx_json_obj_begin(&j, "apply");
        twx_json_str(&j, "scope", tw_doctor_scope_name(ap->scope));
        if (ap->dropin)
            twx_json_str(&j, "dropin", ap->dropin);
        else
            twx_json_null(&j, "dropin");
        twx_json_str(&j, "rollback", ap->undo);
        twx_json_bool(&j, "findings_after", ap->remeasured);
        twx_json_arr_begin(&j, "changes");
        for (size_t i = 0; i < ap->n; i++) {
            twx_json_obj_begin(&j, NULL);
            twx_json_str(&j, "key", ap->changes[i].key);
            twx_json_str(&j, "value", ap->changes[i].value);
            twx_json_str(&j, "previous", ap->changes[i].current);
            twx_json_str(&j, "finding", ap->changes[i].finding);
            twx_json_obj_end(&j);
        }
        twx_json_arr_end(&j);
        twx_json_obj_end(&j);
    }
    twx_json_obj_end(&j);
    twx_json_end(&j);
}

