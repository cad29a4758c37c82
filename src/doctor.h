/*
 * doctor.h — the renderers of `twkit doctor` (80-column text, JSON).  Each
 * takes a finished measurement and result and writes them; none judges
 * anything (the rules are in libtwkit, twkit/doctor.h).
 */
#ifndef TWKIT_DOCTOR_VIEW_H
#define TWKIT_DOCTOR_VIEW_H

#include <stdbool.h>
#include <stdio.h>

#include <twkit/doctor.h>

/* What --apply did, shown above the findings measured after it. */
struct doctor_applied {
    enum tw_doctor_scope scope;    /* HOST: live and the drop-in; NETNS: live only */
    const char *dropin;            /* the drop-in written (HOST), or NULL */
    const char *undo;              /* the command that rolls it back */
    const struct tw_sysctl_change *changes; /* value set, current = the value before */
    size_t n;
    bool remeasured;               /* the findings are from after the change */
};

struct doctor_view {
    bool verbose;            /* info findings in full, the passed checks */
    bool color;              /* ANSI colour on severities */
    bool list_changes;       /* the dry-run list of justified changes */
    const struct doctor_applied *applied; /* NULL: nothing was applied */
};

/* The human view: header, findings worst first, wrapped at 80 columns. */
void doctor_render_text(FILE *f, const struct tw_doctor_sample *s,
                        const struct tw_doctor_result *r, const struct doctor_view *v);
/* The JSON view (schema twkit.doctor.v1, docs/doctor-json.md). */
void doctor_render_json(FILE *f, const struct tw_doctor_sample *s,
                        const struct tw_doctor_result *r, const struct doctor_view *v);
/* What --exit-code returns for a worst severity: 0, 1 (warn) or 2 (crit). */
int doctor_exit_for(enum tw_severity worst);

#endif
